/**
 * The bench's ceiling C: a plain Apollo Server 5 on Express 5 answering `{ hello }`, with none
 * of Milepost's code (no authentication, rate limit, request log or query-cost analysis), in
 * production mode. bench.ts starts it as a child process beside the service, so both are
 * measured on the same machine in the same run: what Milepost costs per request beyond
 * GraphQL over HTTP itself.
 *
 * node -r ts-node/register/transpile-only scripts/lib/plain-apollo.ts <port>
 * Listens on 127.0.0.1; GET /readyz answers once it listens; SIGTERM stops it.
 */
import http from 'node:http';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: plain-apollo.ts <port>');
  const app = express();
  const httpServer = http.createServer(app);
  const apollo = new ApolloServer({
    typeDefs: 'type Query { hello: String }',
    resolvers: { Query: { hello: () => 'world' } },
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer })],
  });
  await apollo.start();
  app.get('/readyz', (_req, res) => {
    res.json({ status: 'ready' });
  });
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
}

main().catch((error: unknown) => {
  process.stderr.write(`plain Apollo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
