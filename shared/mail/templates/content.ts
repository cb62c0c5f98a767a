/** A rendered mail: each template returns one, plain text and HTML saying the same thing. */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
}
