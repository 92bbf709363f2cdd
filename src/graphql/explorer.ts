/**
 * The developer explorer at GET /graphql: GraphiQL, built with the admin console (console/src/
 * explorer.tsx) into dist/console and served from there, so it needs no CDN and no internet.
 * Its token field takes a token with or without the "Bearer " prefix; it keeps the token in the
 * browser's localStorage only.
 */
import type { NextFunction, Request, Response } from 'express';
import { sendPage } from '../console.http';

/** Answers a browser's plain GET /graphql with the explorer; anything else goes on to the API. */
export function explorerRoute(req: Request, res: Response, next: NextFunction): void {
  const wantsPage = req.query.query === undefined
    && req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
  if (!wantsPage) {
    next();
    return;
  }
  void sendPage(res, 'graphiql.html');
}
