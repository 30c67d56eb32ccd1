import asyncio
import json
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint

from helpers import answer

# What this load of the module saw; a reload starts a new list.
SCHEDULED = []


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/answer":
            return Response(answer())
        if path == "/var":
            return Response(self.env.VERSION)
        if path == "/scheduled":
            return Response.json(SCHEDULED)
        if path.startswith("/orders/"):
            obj = await self.env.BUCKET.get("orders/" + path.rsplit("/", 1)[1])
            if obj is None:
                return Response("no such order", status=404)
            return Response(await obj.text(), headers={"content-type": "application/json"})
        if path == "/notes":
            result = await self.env.DB.prepare("SELECT text FROM notes ORDER BY id").all()
            return Response.json([row["text"] for row in result.results])
        if path == "/boom":
            raise RuntimeError("the backend exploded")
        return Response("backend")

    async def queue(self, batch):
        for message in batch.messages:
            order = message.body
            marker = "slow/" + str(order["id"])
            if order.get("slow") and await self.env.BUCKET.head(marker) is None:
                # A long first delivery: a graceful stop lets it finish (or, past the
                # bound, leaves it for a redelivery, which is quick).
                await self.env.BUCKET.put(marker, "started")
                print(f"processing order {order['id']}")
                await asyncio.sleep(order["slow"])
            await self.env.BUCKET.put("orders/" + str(order["id"]), json.dumps({**order, "by": answer()}))
            message.ack()

    async def scheduled(self, controller):
        SCHEDULED.append({"cron": controller.cron, "time": controller.scheduledTime})
