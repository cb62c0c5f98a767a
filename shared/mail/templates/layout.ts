/** What every mail's HTML part shares: the escaping of values, and the frame around a message. */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Every value put into HTML goes through this (a full name may hold markup). */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A plain, single-column mail that reads in every client; `body` is HTML already escaped. */
export function htmlLayout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title></head>
<body style="margin:0;padding:24px;background:#f6f6f6;font-family:Arial,Helvetica,sans-serif;color:#222">
<div style="max-width:560px;margin:0 auto;padding:24px;background:#fff;border-radius:6px;line-height:1.5">
${body}
</div>
</body>
</html>
`;
}

/** A link drawn as a button, with the address written out below for clients that hide buttons. */
export function button(href: string, label: string): string {
  const url = escapeHtml(href);
  return `<p style="margin:24px 0"><a href="${url}" style="display:inline-block;padding:10px 18px;background:#009688;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(label)}</a></p>
<p style="font-size:13px;color:#666">Or open this address: <a href="${url}" style="color:#00796b">${url}</a></p>`;
}
