import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config.ts';
import type { OutboxMailRow } from '../db/schema.ts';
import type { DeliveryFailure } from '../outbox/relay.ts';
import type { Logger } from '../telemetry/logger.ts';

/**
 * Hands a mail over, through nodemailer: to the SMTP server (SMTP_HOST), or, in local runs without one, into
 * the local inbox (an .eml file per mail under DATA_DIR/mail, and a log line with its text). nodemailer is
 * imported on the first mail, so no cold start pays for it.
 */
export interface MailTransport {
  /** Where mail goes, for the banner and logs. */
  readonly description: string;
  send(mail: OutboxMailRow, signal: AbortSignal): Promise<DeliveryFailure | undefined>;
}

/** Bounds on one SMTP conversation, so a server that hangs cannot hold the relay (or a shutdown) for long. */
export const SMTP_TIMEOUTS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000 };
export const SEND_TIMEOUT_MS = 20_000;

type Mailer = Awaited<ReturnType<typeof loadMailer>>;

async function loadMailer(options: Parameters<typeof import('nodemailer').createTransport>[0]) {
  const nodemailer = await import('nodemailer');
  return nodemailer.createTransport(options);
}

function message(config: Config, mail: OutboxMailRow) {
  const { email, name } = config.mail.from;
  return {
    from: { name, address: email },
    to: mail.recipient,
    subject: mail.subject,
    text: mail.text ?? '',
    html: mail.html ?? '',
    // The same on every attempt, so a mail client can tell a rare repeat (a crash after the send) for one.
    messageId: `<${mail.id}@${email.split('@')[1] ?? 'localhost'}>`,
  };
}

/** A refusal of this one mail (a recipient or a message the server will not take), not of the server. */
function refusedMail(error: { code?: string }): boolean {
  return error.code === 'EENVELOPE' || error.code === 'EMESSAGE';
}

/** Resolves with the send's failure, or with an abort failure as soon as `signal` aborts. */
function abortable(signal: AbortSignal, send: () => Promise<DeliveryFailure | undefined>) {
  if (signal.aborted) return Promise.resolve({ reason: 'shutting down', destinationDown: true });
  return new Promise<DeliveryFailure | undefined>((resolve) => {
    const onAbort = () => resolve({ reason: 'shutting down', destinationDown: true });
    signal.addEventListener('abort', onAbort, { once: true });
    send().then((result) => {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    });
  });
}

export function smtpTransport(config: Config): MailTransport {
  const smtp = config.mail.smtp;
  if (!smtp) throw new Error('SMTP_HOST is not set');
  let mailer: Promise<Mailer> | undefined;
  return {
    description: `SMTP ${smtp.host}:${smtp.port}`,
    send(mail, signal) {
      mailer ??= loadMailer({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.ssl,
        requireTLS: smtp.startTls,
        // SMTP_TLS=false means no STARTTLS at all, as in the template, even if the server offers it.
        ignoreTLS: !smtp.startTls && !smtp.ssl,
        ...(smtp.user !== undefined && { auth: { user: smtp.user, pass: smtp.password ?? '' } }),
        ...SMTP_TIMEOUTS,
      }).catch((error: unknown) => {
        mailer = undefined;
        throw error;
      });
      const ready = mailer;
      return abortable(signal, async () => {
        try {
          await (await ready).sendMail(message(config, mail));
          return undefined;
        } catch (error) {
          const {
            code,
            responseCode,
            message: text,
          } = error as Error & { code?: string; responseCode?: number };
          const reason = `${code ?? 'Error'}${responseCode ? ` ${responseCode}` : ''}: ${text}`;
          return { reason, destinationDown: !refusedMail(error as { code?: string }) };
        }
      });
    },
  };
}

/** Local runs without SMTP_HOST: every mail is kept as an .eml file a developer can open, and logged. */
export function localInbox(config: Config, log: Logger): MailTransport {
  const dir = resolve(config.dataDir, 'mail');
  let mailer: Promise<Mailer> | undefined;
  return {
    description: `local inbox ${dir}`,
    async send(mail) {
      try {
        mailer ??= loadMailer({ streamTransport: true, buffer: true, newline: 'unix' });
        const info = await (await mailer).sendMail(message(config, mail));
        await mkdir(dir, { recursive: true });
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const file = join(dir, `${stamp}-${mail.id}.eml`);
        await writeFile(file, (info as { message: Buffer }).message);
        log.info(
          { mail_to: mail.recipient, subject: mail.subject, file, text: mail.text },
          'mail kept in the local inbox',
        );
      } catch (error) {
        return { reason: String((error as Error).message ?? error), destinationDown: true };
      }
      return undefined;
    },
  };
}
