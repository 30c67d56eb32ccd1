from workers import Response


async def on_request_post(context):
    order = await context.request.json()
    await context.env.ORDERS.send(order)
    return Response.json({"queued": True, "id": order["id"]})
