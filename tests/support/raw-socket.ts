import { connect, type Socket } from 'node:net';

/**
 * A TCP connection to `base`'s host and port, for bytes no HTTP client would send. `allowHalfOpen`: the client
 * keeps sending after the server has finished its side.
 */
export async function openSocket(base: string, { allowHalfOpen = false } = {}): Promise<Socket> {
  const { hostname, port } = new URL(base);
  const socket = connect({ port: Number(port), host: hostname, allowHalfOpen });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/**
 * Everything the server writes until it closes the connection; a reset (the server closing while the client
 * still sends) ends it too, with what had arrived.
 */
export function readUntilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.once('close', () => resolve(text));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(text) : reject(error),
    );
  });
}
