#!/usr/bin/env python3
"""A TCP proxy that can play a database outage, for the load scripts (usage-check).

usage: tcp_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT

Listens on 127.0.0.1:LISTEN_PORT and forwards to TARGET. SIGUSR1 cuts: the listener
closes (new connections are refused) and every open connection is reset. SIGUSR2
restores the listener. Prints "listening" when it accepts, "cut" and "restored".
"""
import asyncio
import signal
import socket
import sys


class Proxy:
    def __init__(self, port, host, target_port):
        self.port, self.host, self.target_port = port, host, target_port
        self.server = None
        self.writers = set()

    async def pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.close(writer)

    def close(self, writer):
        self.writers.discard(writer)
        transport = writer.transport
        if not transport.is_closing():
            # A reset, as a database host that went away.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            transport.abort()

    async def handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            self.close(client_writer)
            return
        self.writers.update((client_writer, server_writer))
        await asyncio.gather(
            self.pipe(client_reader, server_writer), self.pipe(server_reader, client_writer)
        )

    async def listen(self):
        self.server = await asyncio.start_server(
            self.handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            self.close(writer)
        print("cut", flush=True)

    async def restore(self):
        if self.server is None:
            await self.listen()
        print("restored", flush=True)


async def main():
    port, host, target_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    proxy = Proxy(port, host, target_port)
    await proxy.listen()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(proxy.cut()))
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(proxy.restore()))
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
