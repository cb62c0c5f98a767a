import type { MailContent } from './content.ts';
import { button, escapeHtml, htmlLayout } from './layout.ts';

/** Sent on POST /api/auth/password-recovery to an address that has an account. */
export function resetPasswordMail(values: {
  projectName: string;
  email: string;
  link: string;
  hours: number;
}): MailContent {
  const { projectName, email, link, hours } = values;
  const validity = hours === 1 ? '1 hour' : `${hours} hours`;
  const subject = `${projectName} - Password recovery for ${email}`;
  return {
    subject,
    text: `Hello,

Someone asked to reset the password of the ${projectName} account ${email}.
To choose a new password, open this link:

${link}

The link works once and for ${validity}. If you did not ask for it, ignore this mail: your password stays as it is.
`,
    html: htmlLayout(
      subject,
      `<p>Hello,</p>
<p>Someone asked to reset the password of the ${escapeHtml(projectName)} account <b>${escapeHtml(email)}</b>.</p>
${button(link, 'Reset your password')}
<p>The link works once and for ${validity}. If you did not ask for it, ignore this mail: your password stays as it is.</p>`,
    ),
  };
}
