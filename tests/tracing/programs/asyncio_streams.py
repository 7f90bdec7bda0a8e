"""asyncio streams (selector event loop): echo server and client."""
import asyncio
import json


async def handle(reader, writer):
    data = await reader.readline()
    writer.write(data.upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello asyncio\n")
    await writer.drain()
    reply = await reader.read()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return port, reply


port, reply = asyncio.run(main())
print(json.dumps({"port": port, "reply": reply.decode()}))
