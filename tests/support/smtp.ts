import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  parsed: ParsedMail;
}

/**
 * A real SMTP server (smtp-server) in the test process: every mail it accepts is parsed (mailparser) and kept.
 * `refusing` makes it answer 421 to every connection, as a server that is overloaded or in maintenance does;
 * `stop()` and `start()` take it away and bring it back on the same port.
 */
export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  refusing = false;
  /** Connections refused while `refusing`. */
  refusals = 0;
  private server: SMTPServer | undefined;
  port = 0;

  async start(): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onConnect: (_session, callback) => {
        if (!this.refusing) return callback();
        this.refusals += 1;
        callback(Object.assign(new Error('Service not available, try again later'), { responseCode: 421 }));
      },
      onData: (stream, _session, callback) => {
        simpleParser(stream).then(
          (parsed) => {
            const address = (list: ParsedMail['to']) =>
              (Array.isArray(list) ? list : list ? [list] : []).flatMap((a) =>
                a.value.map((v) => v.address ?? ''),
              );
            this.received.push({
              to: address(parsed.to).join(','),
              from: address(parsed.from).join(','),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              messageId: parsed.messageId ?? '',
              parsed,
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The environment that points the functions at this server. */
  env(): Record<string, string> {
    return { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(this.port), SMTP_TLS: 'false' };
  }

  mailsTo(address: string): ReceivedMail[] {
    return this.received.filter((mail) => mail.to === address.toLowerCase());
  }

  /** The first mail to `address` (whose subject matches), once it has arrived. */
  async waitForMail(address: string, subject = /.*/, timeoutMs = 15_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.mailsTo(address).find((mail) => subject.test(mail.subject));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no mail to ${address} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The token of the first `${FRONTEND_HOST}${path}?token=…` link in a mail's text. */
export function tokenFrom(mail: ReceivedMail, path: string): string {
  const match = new RegExp(`${path.replace(/[/]/g, '\\/')}\\?token=([\\w-]+)`).exec(mail.text);
  if (!match?.[1]) throw new Error(`no ${path} link in: ${mail.text}`);
  return match[1];
}
