from workers import Response


async def on_request_get(context):
    return Response(context.env.GREETING)
