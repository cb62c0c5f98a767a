import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface TcpProxy {
  port: number;
  /**
   * Sends new connections to `target` and cuts every open one, as a Kubernetes Service does when its
   * endpoint moves to another pod: the old pod is gone, and so are the connections to it.
   */
  repoint(target: number): void;
  close(): Promise<void>;
}

/** A stand-in for the cluster's `-rw` Service: 127.0.0.1 on a free port, forwarding to one server at a time. */
export async function startTcpProxy(initialTarget: number): Promise<TcpProxy> {
  let target = initialTarget;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      // One side failing ends the pair, as a connection through a dead node does.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).on('end', () => upstream.end());
    upstream.pipe(client).on('end', () => client.end());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    repoint(next) {
      target = next;
      for (const socket of open) socket.destroy();
    },
    async close() {
      for (const socket of open) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
