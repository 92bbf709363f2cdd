/**
 * The admin console at /admin: static files built by `npm run build` (Vite, from console/) into
 * dist/console. It is a client of /graphql like any other, holding no powers of its own: every
 * call it makes carries the ADMIN token the user pasted.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import express, { type Request, type Response, type Router } from 'express';

/** Where the build puts the console and the explorer; the same path from src/ (tests) and dist/. */
export const CONSOLE_DIR = resolve(__dirname, '..', 'dist', 'console');

/**
 * Only this origin: the pages load nothing from elsewhere and talk to nothing else. Monaco (the
 * explorer's editor) runs its language services in workers built from blob: URLs.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "worker-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const NOT_BUILT = 'The admin console is not built: run `npm run build` (npm start does it first).';

/** Sends a built page with the headers every console page carries; 503 while it is not built. */
export async function sendPage(res: Response, file: 'index.html' | 'graphiql.html'): Promise<void> {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('cache-control', 'no-cache');
  // Read at each request (it is small): a rebuild names new assets, and the page must follow.
  const html = await readFile(join(CONSOLE_DIR, file), 'utf8').catch(() => null);
  if (html === null) {
    res.status(503).type('text').send(NOT_BUILT);
    return;
  }
  res.type('html').send(html);
}

/** GET /admin/ (the console) and /admin/assets/* (content-hashed, so cached for good). */
export function consoleRoute(): Router {
  const router = express.Router();
  router.get(['/admin', '/admin/'], (req: Request, res: Response) => {
    // The console's links are relative to /admin/; without the slash they would miss.
    if (req.path === '/admin') {
      res.redirect(301, '/admin/');
      return;
    }
    void sendPage(res, 'index.html');
  });
  router.use('/admin/assets', express.static(join(CONSOLE_DIR, 'assets'), {
    immutable: true,
    maxAge: '365d',
    index: false,
    fallthrough: true,
    setHeaders: (res) => res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY),
  }));
  return router;
}
