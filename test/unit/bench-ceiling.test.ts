import { createServer } from 'node:net';
import { CEILING, operations } from '../../scripts/lib/bench-ops';
import { startPlainApollo } from '../../scripts/lib/bench-server';

/** A port nothing listens on just now. */
const freePort = () => new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as { port: number };
    probe.close(() => resolve(port));
  });
});

const post = (url: string, body: unknown) =>
  fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    .then(async (res) => ({ status: res.status, body: await res.json() as { data?: unknown; errors?: unknown[] } }));

describe("the bench's ceiling C", () => {
  test('is a plain Apollo service, started as a child process, that answers { hello } and knows nothing of Milepost', async () => {
    const ceiling = await startPlainApollo(await freePort());
    try {
      expect(await post(ceiling.url, CEILING.body())).toEqual({ status: 200, body: { data: { hello: 'world' } } });
      const milepost = await post(ceiling.url, { query: '{ now }' });
      expect(milepost.status).toBe(400);
      expect(milepost.body.errors).toHaveLength(1);
    } finally {
      await ceiling.stop();
    }
    expect(ceiling.child.exitCode !== null || ceiling.child.signalCode !== null).toBe(true);
  }, 60_000);

  test("Milepost's side of the ratio is { __typename }, beside { now }", () => {
    const sample = { all: ['m'], redeemable: ['m'] };
    const ops = operations(sample, 'run', 'token');
    expect(ops.slice(0, 2).map((op) => [op.name, op.body()])).toEqual([
      ['typename', { query: '{ __typename }' }],
      ['now', { query: '{ now }' }],
    ]);
  });
});
