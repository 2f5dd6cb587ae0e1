#!/usr/bin/env python3
"""Client networks and DNS queries for the load scripts (bench-dns, usage-check).

Reads a MaxMind DB (no dependencies), lists its networks with a location and writes
dnsperf -B input: per query a 2-byte length and an A query with its own EDNS Client
Subnet option, a random /24 (IPv4) or /56 (IPv6) network inside a located network
(smaller networks sent whole), half IPv4, half IPv6; also the first `burst` queries
alone, and one sample client network per continent and family with its nearest
provider.

usage: dns_queries.py DB OUT BURST_OUT SAMPLES PROVIDERS COUNT BURST SEED NAMES
  PROVIDERS: lines "name address latitude longitude continent"; NAMES: comma-separated.
"""
import ipaddress, math, random, struct, sys

db_path, out_path, burst_path, samples_path, providers_path = sys.argv[1:6]
count, burst, seed = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
names = sys.argv[9].split(",")
data = open(db_path, "rb").read()
marker = data.rfind(b"\xab\xcd\xefMaxMind.com")
if marker < 0:
    sys.exit(f"{db_path}: not a MaxMind DB file")


def decode(buf, off, base):
    ctrl = buf[off]
    off += 1
    kind = ctrl >> 5
    if kind == 1:  # pointer into the data section
        ss, vvv = (ctrl >> 3) & 3, ctrl & 7
        if ss == 0:
            p, off = (vvv << 8) | buf[off], off + 1
        elif ss == 1:
            p, off = ((vvv << 16) | int.from_bytes(buf[off:off + 2], "big")) + 2048, off + 2
        elif ss == 2:
            p, off = ((vvv << 24) | int.from_bytes(buf[off:off + 3], "big")) + 526336, off + 3
        else:
            p, off = int.from_bytes(buf[off:off + 4], "big"), off + 4
        return decode(buf, base + p, base)[0], off
    if kind == 0:
        kind, off = 7 + buf[off], off + 1
    size = ctrl & 0x1F
    if size == 29:
        size, off = 29 + buf[off], off + 1
    elif size == 30:
        size, off = 285 + int.from_bytes(buf[off:off + 2], "big"), off + 2
    elif size == 31:
        size, off = 65821 + int.from_bytes(buf[off:off + 3], "big"), off + 3
    if kind == 2:
        return buf[off:off + size].decode("utf-8", "replace"), off + size
    if kind == 3:
        return struct.unpack(">d", buf[off:off + 8])[0], off + 8
    if kind == 4:
        return bytes(buf[off:off + size]), off + size
    if kind in (5, 6, 9, 10):
        return int.from_bytes(buf[off:off + size], "big"), off + size
    if kind == 8:
        return int.from_bytes(buf[off:off + size], "big", signed=size == 4), off + size
    if kind in (7, 11):
        items = []
        for _ in range(size * (2 if kind == 7 else 1)):
            value, off = decode(buf, off, base)
            items.append(value)
        return (dict(zip(items[::2], items[1::2])) if kind == 7 else items), off
    if kind == 14:
        return bool(size), off
    if kind == 15:
        return struct.unpack(">f", buf[off:off + 4])[0], off + 4
    raise ValueError(f"unsupported MaxMind DB type {kind}")


meta_start = marker + 14
meta = decode(data, meta_start, meta_start)[0]
nodes, rsize, ipver = meta["node_count"], meta["record_size"], meta["ip_version"]
node_bytes = rsize * 2 // 8
data_start = nodes * node_bytes + 16


def node(n):
    b = data[n * node_bytes:(n + 1) * node_bytes]
    if rsize == 24:
        return int.from_bytes(b[0:3], "big"), int.from_bytes(b[3:6], "big")
    if rsize == 28:
        return (((b[3] & 0xF0) << 20) | int.from_bytes(b[0:3], "big"),
                ((b[3] & 0x0F) << 24) | int.from_bytes(b[4:7], "big"))
    return int.from_bytes(b[0:4], "big"), int.from_bytes(b[4:8], "big")


# Walk the tree (depth first, at most 5000 networks), skipping the IPv4 aliases of an IPv6
# tree; IPv4 networks are the ones under ::/96.
bits = 128 if ipver == 6 else 32
aliases = {(0xFFFF << 32, 96), (0x2002 << 112, 16), (0x2001 << 112, 32)}
nets, records = [], {}
stack = [(0, 0, 0)]
while stack and len(nets) < 5000:
    n, prefix, depth = stack.pop()
    if ipver == 6 and (prefix << (128 - depth), depth) in aliases:
        continue
    left, right = node(n)
    for bit, rec in ((1, right), (0, left)):
        p, d = (prefix << 1) | bit, depth + 1
        if rec < nodes:
            stack.append((rec, p, d))
        elif rec > nodes:
            off = data_start + rec - nodes - 16
            if off not in records:
                records[off] = decode(data, off, data_start)[0]
            value = records[off] if isinstance(records[off], dict) else {}
            loc = value.get("location", {})
            if "latitude" not in loc or "longitude" not in loc:
                continue
            net = ipaddress.ip_network((p << (bits - d), d))
            if ipver == 6 and d >= 96 and p >> (d - 96) == 0:
                net = ipaddress.ip_network(((p & ((1 << (d - 96)) - 1)) << (128 - d), d - 96))
            # The continent, or the country where a database has no continents.
            continent = (value.get("continent", {}).get("code")
                         or value.get("country", {}).get("iso_code") or "??")
            nets.append((net, loc["latitude"], loc["longitude"], continent))
if not nets:
    sys.exit(f"{db_path}: no network with a location")


def client_network(rng, net):
    # A resolver sends /24 (IPv4) or /56 (IPv6); smaller networks are sent whole.
    source = max(net.prefixlen, 24 if net.version == 4 else 56)
    host_bits = net.max_prefixlen - net.prefixlen
    addr = int(net.network_address) | rng.getrandbits(host_bits)
    return ipaddress.ip_network((addr, source), strict=False)


def query(qid, name, subnet):
    msg = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1)  # no RD: an authoritative server
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\x00" + struct.pack(">HH", 1, 1)  # A, IN
    address = subnet.network_address.packed[:(subnet.prefixlen + 7) // 8]
    ecs = struct.pack(">HBB", 1 if subnet.version == 4 else 2, subnet.prefixlen, 0) + address
    option = struct.pack(">HH", 8, len(ecs)) + ecs
    return msg + b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(option)) + option


rng = random.Random(seed)
pools = [pool for pool in ([n for n in nets if n[0].version == 4],
                           [n for n in nets if n[0].version == 6]) if pool]
distinct, per_continent = set(), {}
total = max(count, burst)
with open(out_path, "wb") as out, open(burst_path, "wb") as burst_out:
    for i in range(total):
        net = rng.choice(rng.choice(pools))
        subnet = client_network(rng, net[0])
        distinct.add(subnet)
        per_continent[net[3]] = per_continent.get(net[3], 0) + 1
        msg = query(i & 0xFFFF, names[i % len(names)], subnet)
        record = struct.pack(">H", len(msg)) + msg
        if i < count:
            out.write(record)
        if i < burst:
            burst_out.write(record)

# One client network per continent (or country) and family, with the nearest provider.
providers = [line.split() for line in open(providers_path) if line.strip()]


def unit(lat, lon):
    lat, lon = math.radians(lat), math.radians(lon)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


with open(samples_path, "w") as samples:
    seen = set()
    for net, lat, lon, continent in sorted(nets, key=lambda n: (n[3], n[0].version, str(n[0]))):
        if (continent, net.version) in seen:
            continue
        seen.add((continent, net.version))
        c = unit(lat, lon)
        best = max(providers, key=lambda p: sum(a * b for a, b in
                                                zip(c, unit(float(p[2]), float(p[3])))))
        subnet = client_network(random.Random(1), net)
        samples.write(f"{continent} {subnet} {lat:.2f},{lon:.2f} {best[0]}\n")
v4 = sum(1 for n in nets if n[0].version == 4)
mix = " ".join(f"{k} {v * 100 / total:.0f}%" for k, v in sorted(per_continent.items()))
print(f"client networks: {len(nets)} networks with a location in {db_path.rsplit('/', 1)[-1]} "
      f"({v4} IPv4, {len(nets) - v4} IPv6); {count} queries from {len(distinct)} distinct ECS "
      f"networks, half IPv4, half IPv6; by continent (country where the database has none): {mix}")
