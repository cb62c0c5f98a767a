import type { MailContent } from './content.ts';
import { button, escapeHtml, htmlLayout } from './layout.ts';

/** Sent on sign-up, on a change of address (to the new one), and on POST /api/users/me/verification-email. */
export function verifyEmailMail(values: {
  projectName: string;
  email: string;
  link: string;
  hours: number;
}): MailContent {
  const { projectName, email, link, hours } = values;
  const subject = `${projectName} - Confirm your e-mail address`;
  return {
    subject,
    text: `Hello,

Please confirm that ${email} is your address for ${projectName} by opening this link:

${link}

The link works once and for ${hours} hours. If you did not sign up or change your address, ignore this mail.
`,
    html: htmlLayout(
      subject,
      `<p>Hello,</p>
<p>Please confirm that <b>${escapeHtml(email)}</b> is your address for ${escapeHtml(projectName)}.</p>
${button(link, 'Confirm your address')}
<p>The link works once and for ${hours} hours. If you did not sign up or change your address, ignore this mail.</p>`,
    ),
  };
}
