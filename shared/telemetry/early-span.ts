import type {
  Attributes,
  Exception,
  Link,
  Span,
  SpanAttributeValue,
  SpanContext,
  SpanStatus,
  TimeInput,
} from '@opentelemetry/api';
import type { SpanKindName } from './tracing.ts';

/**
 * Spans started before the OpenTelemetry SDK is loaded (tracing.ts loads it once the first response has gone
 * out). An EarlySpan has its ids from the start, so log lines and outgoing `traceparent` headers carry them,
 * and records what is done to it; when the SDK is up, it is started there with the same ids, start time and
 * attributes, what was recorded is replayed onto it, and from then on it forwards every call to it.
 * No OpenTelemetry code here (type imports only): this runs before any is loaded.
 */

/** The caller's trace context, as received (the SDK's propagator reads it again when it takes over). */
export interface RemoteParent {
  traceparent?: string | string[];
  tracestate?: string | string[];
}

type Recorded = (span: Span) => void;

/** Milliseconds since the epoch, with the sub-millisecond part: what the SDK takes as a start or end time. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

function randomHex(bytes: number): string {
  let hex = '';
  for (let i = 0; i < bytes; i += 4) hex += ((Math.random() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
  // An id of zeros is invalid (W3C); as the SDK's RandomIdGenerator does, make the last byte 1.
  return /^0+$/.test(hex) ? `${hex.slice(0, -2)}01` : hex;
}

// W3C Trace Context, parsed as @opentelemetry/core's W3CTraceContextPropagator parses it, so a header the SDK
// would refuse is refused here too and the ids an EarlySpan shows are the ones the SDK keeps.
const TRACEPARENT =
  /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/;

/** The trace id and sampled flag of a valid `traceparent`; undefined when there is none or it is invalid. */
export function parseTraceparent(
  header: string | string[] | undefined,
): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : TRACEPARENT.exec(value);
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as string[];
  if (version === '00' && rest) return undefined;
  return { traceId: traceId!, spanId: spanId!, sampled: (Number.parseInt(flags!, 16) & 1) === 1 };
}

export class EarlySpan implements Span {
  readonly traceId: string;
  readonly spanId: string;
  /** The SDK's span once it has taken over. */
  real: Span | undefined;
  private readonly sampled: boolean;
  private readonly recorded: Recorded[] = [];
  private endTime: number | undefined;

  constructor(
    public name: string,
    readonly kind: SpanKindName | 'server',
    /** As given at the start (the sampler sees them); later ones are recorded. */
    readonly attributes: Attributes,
    /** Another EarlySpan, the caller's context (a request's headers), or none: a new trace. */
    readonly parent: EarlySpan | RemoteParent | undefined,
    /** Milliseconds since the epoch; now unless given. */
    readonly startTime: number = epochNow(),
  ) {
    const remote = parent instanceof EarlySpan ? undefined : parseTraceparent(parent?.traceparent);
    const from = parent instanceof EarlySpan ? parent : remote;
    this.traceId = from?.traceId ?? randomHex(16);
    this.spanId = randomHex(8);
    // Until the SDK's sampler decides: the caller's decision, or sampled (the default sampler's answer). With a
    // ratio sampler, a header sent before the SDK is up may say sampled for a trace the SDK then drops.
    this.sampled = parent instanceof EarlySpan ? parent.sampled : (remote?.sampled ?? true);
  }

  /** The caller's `tracestate`, for headers sent before the SDK is up. */
  get tracestate(): string | undefined {
    if (this.parent instanceof EarlySpan) return this.parent.tracestate;
    const state = this.parent?.tracestate;
    return Array.isArray(state) ? state.join(',') : state;
  }

  /** Called by the SDK with its span for this one: replays what was recorded, then forwards everything. */
  adopt(span: Span): void {
    this.real = span;
    for (const replay of this.recorded.splice(0)) replay(span);
    if (this.endTime !== undefined) span.end(this.endTime);
  }

  private record(replay: Recorded): this {
    if (this.real) replay(this.real);
    else this.recorded.push(replay);
    return this;
  }

  spanContext(): SpanContext {
    return (
      this.real?.spanContext() ?? {
        traceId: this.traceId,
        spanId: this.spanId,
        traceFlags: this.sampled ? 1 : 0,
      }
    );
  }

  setAttribute(key: string, value: SpanAttributeValue): this {
    return this.record((span) => span.setAttribute(key, value));
  }

  setAttributes(attributes: Attributes): this {
    return this.record((span) => span.setAttributes(attributes));
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    const at = time ?? (isTimeInput(attributesOrTime) ? attributesOrTime : epochNow());
    const attributes = isTimeInput(attributesOrTime) ? undefined : attributesOrTime;
    return this.record((span) => span.addEvent(name, attributes, at));
  }

  addLink(link: Link): this {
    return this.record((span) => span.addLink(link));
  }

  addLinks(links: Link[]): this {
    return this.record((span) => span.addLinks(links));
  }

  setStatus(status: SpanStatus): this {
    return this.record((span) => span.setStatus(status));
  }

  updateName(name: string): this {
    return this.record((span) => span.updateName(name));
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const at = time ?? epochNow();
    this.record((span) => span.recordException(exception, at));
  }

  end(endTime?: TimeInput): void {
    if (this.real) {
      this.real.end(endTime);
      return;
    }
    if (this.endTime !== undefined) return;
    this.endTime =
      typeof endTime === 'number' ? endTime : endTime instanceof Date ? endTime.getTime() : epochNow();
  }

  isRecording(): boolean {
    return this.real ? this.real.isRecording() : this.endTime === undefined;
  }
}

function isTimeInput(value: unknown): value is TimeInput {
  return typeof value === 'number' || value instanceof Date || Array.isArray(value);
}
