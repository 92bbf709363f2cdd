import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { requestId, requestLog, requestLogger } from '../../src/request-log';
import { eventually } from '../support/eventually';

// The request log over a bare HTTP server: what it writes for answers the API itself seldom
// gives (a 5xx, a request whose work logs twice), without needing the API to fail.

const lines: Record<string, any>[] = [];
const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean).map((l) => JSON.parse(l))); done(); } });
const logger = pino({ level: 'info' }, sink);
const middleware = requestLog(logger);
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => middleware(req, res, () => {
    const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    const log = requestLogger(req, logger);
    log.info('working');
    // The same bound logger every time within a request.
    if (requestLogger(req, logger) !== log) log.error('a second logger was made');
    res.statusCode = status;
    res.end(JSON.stringify({ id: requestId(req) }));
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => { lines.length = 0; });

const until = (count: number) => eventually(`${count} log lines`, () => lines.length >= count);

test('a 5xx answer is logged at level error as "request errored", with its status', async () => {
  const res = await fetch(`${base}/graphql?status=503`, { headers: { 'x-request-id': 'failing-1' } });
  expect(res.status).toBe(503);
  await until(2);
  expect(lines.map((l) => [l.level, l.msg])).toEqual([[30, 'working'], [50, 'request errored']]);
  expect(lines[1]).toMatchObject({ req: { id: 'failing-1', method: 'GET', url: '/graphql?status=503' }, res: { statusCode: 503 } });
});

test("the request's own lines carry the request; its work gets one bound logger however often it asks", async () => {
  const res = await fetch(`${base}/graphql`, { headers: { authorization: 'Bearer secret-token' } });
  const { id } = (await res.json()) as { id: string };
  expect(res.headers.get('x-request-id')).toBe(id);
  await until(2);
  expect(lines.map((l) => [l.level, l.msg, l.req?.id])).toEqual([[30, 'working', id], [30, 'request completed', id]]);
  expect(JSON.stringify(lines)).not.toContain('secret-token');
});

test('a request that did not pass through the middleware logs through the fallback and has no id', () => {
  const bare = new http.IncomingMessage(null as never);
  expect(requestId(bare)).toBe('');
  expect(requestLogger(bare, logger)).toBe(logger);
});
