from workers import Response


async def on_request_get(context):
    # A service binding to the Worker hosted in the same process.
    answer = await context.env.BACKEND.fetch("https://backend.internal/answer")
    return Response("backend says " + await answer.text())
