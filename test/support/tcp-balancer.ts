import { connect, createServer, type Socket } from "node:net";

export interface TcpBalancer {
  readonly port: number;
  readonly baseUrl: string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

/**
 * An L4 balancer, as a cloud TCP load balancer or a Kubernetes ClusterIP
 * Service is: each new TCP connection goes to the next upstream in turn,
 * and its bytes are piped through unread. It cannot see HTTP/2 streams.
 */
export function startTcpBalancer(upstreamPorts: readonly number[]): Promise<TcpBalancer> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    const port = upstreamPorts[accepted % upstreamPorts.length] as number;
    accepted++;
    const upstream = connect(port, "127.0.0.1");
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.once("error", () => upstream.destroy());
    upstream.once("error", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        port,
        baseUrl: `http://127.0.0.1:${port}`,
        connections: () => accepted,
        stop() {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}
