// The workflow contract, as pkg/flow/schema/DeliverEvent.{input,result}.json
// publish it (generated from the Go types; e2e/typescript_test.go checks
// that what this example sends validates against the input schema).

/** flow.DefaultTaskQueue: the delivery worker's task queue. */
export const TASK_QUEUE = 'webhooks';
/** flow.DeliverEventWorkflow: the workflow type. */
export const WORKFLOW_TYPE = 'DeliverEvent';

/** flow.EventWorkflowID: one workflow per account and event id. */
export function eventWorkflowId(accountId: string, eventId: string): string {
  return `event/${accountId}/${eventId}`;
}

/** events.Event (JSON names as in POST /v1/events). */
export interface Event {
  /** Your idempotency key: [A-Za-z0-9._:-]{1,200}. */
  id: string;
  type: string;
  triggerSource: 'saas_page' | 'third_party_app';
  appId?: string;
  /** RFC 3339. */
  occurredAt: string;
  /** Valid against the type's JSON Schema (GET /v1/event-types). */
  data: unknown;
  orderingKey?: string;
}

/** flow.DeliverEventInput (Go field names). */
export interface DeliverEventInput {
  AccountID: string;
  Event: Event;
}

/** flow.AttemptResult. */
export interface AttemptResult {
  Outcome: 'succeeded' | 'retry' | 'failed' | 'cancelled' | 'throttled';
  StatusCode?: number;
  DurationMS?: number;
  Error?: string;
  Reason?: string;
  Try?: number;
  /** Nanoseconds. */
  Wait?: number;
}

/** flow.DeliveryResult. */
export interface DeliveryResult {
  DeliveryID: string;
  WebhookID: string;
  Status: string;
  Attempts: number;
  Last: AttemptResult;
}

/** flow.Result. */
export interface Result {
  Deliveries: DeliveryResult[] | null;
  Skipped?: string;
}
