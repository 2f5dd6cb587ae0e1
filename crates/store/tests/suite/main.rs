//! The shared store test suite: every case runs against SQLite, MariaDB/MySQL and
//! PostgreSQL, each in a fresh database. The servers come from `scripts/services`
//! (`GEODNS_TEST_MYSQL_URL`, `GEODNS_TEST_POSTGRES_URL`); a missing one fails the test.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(unreachable_pub, reason = "helpers are shared between test modules")]

mod alerts;
mod cluster;
mod harness;
mod ordering;
mod outages;
mod usage;

/// Generates one test per case and backend: `sqlite::case`, `mysql::case`, `postgres::case`.
macro_rules! suite {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { crate::harness::run(crate::harness::Kind::Sqlite, crate::$module::$case).await })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { crate::harness::run(crate::harness::Kind::MySql, crate::$module::$case).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { crate::harness::run(crate::harness::Kind::Postgres, crate::$module::$case).await })*
        }
    };
}

suite!(
    harness::migrate_twice_applies_nothing,
    harness::health_probe_round_trips,
    usage::add_accumulates,
    usage::replace_is_idempotent,
    usage::max_keeps_the_larger_total,
    usage::batch_merges_duplicate_keys,
    usage::invalid_rows_are_reported_and_the_rest_written,
    usage::large_batches_span_chunks,
    usage::queries_group_and_filter,
    usage::filters_take_lists_network_substrings_and_a_limit,
    usage::summary_counts,
    usage::concurrent_writers_end_with_the_exact_sum,
    usage::hostile_strings_round_trip,
    usage::a_refused_row_does_not_lose_the_rest,
    usage::totals_sum_over_nodes_or_keep_one_node,
    outages::open_twice_is_a_no_op,
    outages::close_without_open_reports_nothing_to_close,
    outages::resolved_outages_stay_visible,
    outages::repeat_outage_is_a_new_row,
    outages::filters_select_by_member_domain_window_state,
    outages::votes_and_data_round_trip,
    outages::flap_rule_drops_short_outages,
    outages::concurrent_opens_record_one_outage,
    outages::invalid_outages_are_rejected,
    ordering::copies_of_a_decision_change_history_once,
    ordering::a_late_open_does_not_reopen_or_end_newer_history,
    ordering::a_close_before_its_open_records_a_closed_outage,
    ordering::short_closed_outages_follow_the_flap_rule,
    ordering::a_flap_leaves_a_tombstone_a_late_open_cannot_pass,
    ordering::old_messages_are_pruned,
    alerts::an_outage_owes_one_alert_of_each_kind,
    alerts::recorded_and_dropped_outages_owe_an_online_alert,
    alerts::a_departed_owners_alerts_are_claimed_once,
    alerts::sent_alerts_are_pruned_once_their_outage_is_over,
    cluster::messages_store_read_list,
    cluster::state_prefix_is_case_sensitive_and_literal,
    cluster::node_state_must_be_an_object,
    cluster::consensus_log_is_unique_per_term_and_index,
    cluster::routes_and_runtime_config,
    cluster::transactions_commit_roll_back_and_drop,
);

/// One connection per store, so the session time zone set by the case is the store's.
mod time_zone {
    use crate::harness::{Kind, run_single_connection};
    use crate::outages::times_do_not_move_with_the_session_time_zone as case;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_single_connection(Kind::Sqlite, case).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        run_single_connection(Kind::MySql, case).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_single_connection(Kind::Postgres, case).await;
    }
}

#[tokio::test]
async fn connect_failure_names_host_database_and_cause() {
    let mut config = geodns_store::StoreConfig::new("mysql://geodns:secret@127.0.0.1:1/nowhere");
    config.connect_retry = std::time::Duration::from_millis(500);
    let error = geodns_store::SqlStore::connect(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("cannot connect to mysql database `nowhere` on 127.0.0.1:1 after "),
        "{error}"
    );
    assert!(!error.contains("secret"), "{error}");
}

#[tokio::test]
async fn unsupported_and_in_memory_urls_are_refused() {
    let error = geodns_store::SqlStore::connect(geodns_store::StoreConfig::new("oracle://h/db"))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unsupported database URL `oracle://h/db`")
    );
    let error = geodns_store::SqlStore::connect(geodns_store::StoreConfig::new("sqlite::memory:"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("in-memory SQLite"), "{error}");
}

/// Nodes that start together on a fresh shared database migrate it once: every one
/// starts, and each migration is recorded once.
mod concurrent_migration {
    use geodns_store::SqlStore;
    use geodns_test_support::{Kind, TestDatabase};

    async fn case(kind: Kind) {
        let database = TestDatabase::create(kind).await;
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let config = database.store_config();
                tokio::spawn(async move { SqlStore::open(config).await })
            })
            .collect();
        for start in starts {
            let store = start.await.unwrap().unwrap();
            assert!(store.pending_migrations().await.unwrap().is_empty());
            store.close().await;
        }
        database.drop_now().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        case(Kind::MySql).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        case(Kind::Postgres).await;
    }
}
