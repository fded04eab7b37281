// Starts esign-webhooks' DeliverEvent workflow from TypeScript, as the Go
// package pkg/publish does: the same workflow id (so publishing an event
// twice delivers it once), the same id policies, the same input.
//
//   TEMPORAL_ADDRESS=127.0.0.1:7233 ACCOUNT_ID=<uuid> EVENT_ID=env-42-start node dist/deliver.js
//
// It publishes the event, publishes it again (a duplicate: the same run),
// waits for the delivery and prints one JSON line: the workflow id, both
// run ids and the workflow's result.
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/client';

import { DeliverEventInput, Event, Result, TASK_QUEUE, WORKFLOW_TYPE, eventWorkflowId } from './contract';

/**
 * publish starts the event's workflow, or finds the one already started
 * for it. It validates nothing: the worker checks the input by the API's
 * rules (flow.DeliverEventInput.Check) and records a refusal as the
 * workflow's result (Skipped), sending nothing.
 */
export async function publish(client: Client, accountId: string, event: Event, taskQueue = TASK_QUEUE) {
  const workflowId = eventWorkflowId(accountId, event.id);
  const input: DeliverEventInput = { AccountID: accountId, Event: event };
  try {
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [input],
      // As pkg/publish: a running workflow of this id is joined; a
      // completed one is never started again (one event, one delivery); a
      // failed one may be.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: `${event.type} · published from TypeScript · data in this input`,
    });
    return { workflowId, runId: handle.firstExecutionRunId, duplicate: false };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // Delivered already under this id: the same answer, nothing new.
      const desc = await client.workflow.getHandle(workflowId).describe();
      return { workflowId, runId: desc.runId, duplicate: true };
    }
    throw err;
  }
}

async function main() {
  const env = (name: string, fallback?: string): string => {
    const v = process.env[name] ?? fallback;
    if (v === undefined) throw new Error(`${name} is not set`);
    return v;
  };
  const connection = await Connection.connect({ address: env('TEMPORAL_ADDRESS', '127.0.0.1:7233') });
  try {
    const client = new Client({ connection, namespace: env('TEMPORAL_NAMESPACE', 'default') });
    const accountId = env('ACCOUNT_ID');
    const taskQueue = env('TEMPORAL_TASK_QUEUE', TASK_QUEUE);
    const event: Event = {
      id: env('EVENT_ID'),
      type: 'ENVELOPE_START',
      triggerSource: 'saas_page',
      occurredAt: new Date().toISOString(),
      data: { envelopeId: env('ENVELOPE_ID', 'env-42'), envelopeStatus: 1 },
    };
    const first = await publish(client, accountId, event, taskQueue);
    const again = await publish(client, accountId, event, taskQueue);
    const result: Result = await client.workflow.getHandle(first.workflowId, first.runId).result();
    console.log(JSON.stringify({ workflowId: first.workflowId, runId: first.runId, againRunId: again.runId, result }));
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
