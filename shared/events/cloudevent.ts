/**
 * CloudEvents 1.0 in HTTP binary mode: the attributes travel as `ce-*` headers and the body is the data
 * itself, so a receiver that knows nothing of CloudEvents still gets plain JSON.
 */

export interface CloudEvent {
  /** Stays the same on every retry of one event, so receivers can de-duplicate. */
  id: string;
  type: string;
  source: string;
  subject: string;
  /** ISO 8601 with zone. */
  time: string;
  data: unknown;
}

export interface BinaryMessage {
  headers: Record<string, string>;
  body: string;
}

export function toBinaryMessage(event: CloudEvent): BinaryMessage {
  return {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': event.id,
      'ce-type': event.type,
      'ce-source': event.source,
      'ce-subject': event.subject,
      'ce-time': event.time,
      'content-type': 'application/json',
    },
    body: JSON.stringify(event.data),
  };
}
