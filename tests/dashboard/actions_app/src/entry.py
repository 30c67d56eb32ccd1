from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("desk")

    async def queue(self, batch):
        # A task with "fail" set is retried once, then dead-lettered (max_retries = 1).
        for message in batch.messages:
            if isinstance(message.body, dict) and message.body.get("fail"):
                message.retry()
            else:
                message.ack()


class Approval(WorkflowEntrypoint):
    async def run(self, event, step):
        doc = event.payload["doc"]

        @step.do("prepare")
        async def prepare():
            return {"doc": doc}

        await prepare()
        decision = await step.wait_for_event("wait for approval", type="approved", timeout="1 hour")

        @step.do("publish")
        async def publish():
            return {"published": doc, "by": decision["payload"]["by"]}

        return await publish()
