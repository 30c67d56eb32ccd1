import json
from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/orders" and request.method == "POST":
            order = await request.json()
            await self.env.JOBS.send(order)
            return Response.json({"queued": order["id"]}, status=202)
        if path == "/orders":
            rows = await self.env.DB.prepare("SELECT id, item, qty FROM orders ORDER BY id").all()
            return Response.json(rows.results)
        if path.startswith("/receipts/"):
            obj = await self.env.RECEIPTS.get(path[1:])
            if obj is None:
                return Response("no such receipt", status=404)
            return Response(await obj.text())
        return Response(self.env.GREETING)

    async def queue(self, batch):
        for message in batch.messages:
            order = message.body
            if order.get("fail"):
                print(f"[orders] cannot take order {order['id']} (attempt {message.attempts})")
                message.retry()
                continue
            await self.env.DB.prepare("INSERT INTO orders (id, item, qty) VALUES (?, ?, ?)").bind(
                order["id"], order["item"], order["qty"]).run()
            await self.env.RECEIPTS.put(f"receipts/{order['id']}.json", json.dumps(order))
            await self.env.LAST_ORDER.put(f"by-item/{order['item']}", order["id"], metadata={"qty": order["qty"]})
            await self.env.FULFIL.create(id=f"order-{order['id']}", params=order)
            message.ack()


class FulfilOrder(WorkflowEntrypoint):
    async def run(self, event, step):
        order = event.payload

        @step.do("reserve stock")
        async def reserve():
            if order.get("out_of_stock"):
                raise NonRetryableError(f"{order['item']} is out of stock")
            return {"reserved": order["qty"]}

        await reserve()
        await step.sleep("wait for courier", "1 hour")

        @step.do("ship", config={"retries": {"limit": 2, "delay": "30 seconds", "backoff": "constant"}})
        async def ship(ctx):
            if order.get("flaky") and ctx["attempt"] == 1:
                raise RuntimeError("courier did not answer")
            return {"shipped": order["id"]}

        return await ship()
