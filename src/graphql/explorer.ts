/**
 * A self-contained GraphQL explorer page, served at GET /graphql to browsers in development.
 * Everything is inline (no CDN, no fonts, no network but the API itself), so it works offline.
 * The bearer token and the last operation stay in the browser's localStorage only.
 */

interface Example {
  title: string;
  query: string;
  variables: Record<string, unknown>;
}

const EXAMPLES: Example[] = [
  {
    title: 'Service clock',
    query: 'query Now {\n  now\n}',
    variables: {},
  },
  {
    title: 'Programme',
    query: 'query Program {\n  program {\n    name\n    pointsName\n    currency\n    earnRate\n    pendingDays\n    expiry { mode months roundToQuarterEnd }\n    tiers { code name rank qualifyingPointsRequired earnMultiplier }\n  }\n}',
    variables: {},
  },
  {
    title: 'Enrol a member',
    query: 'mutation Enrol($input: EnrollMemberInput!) {\n  enrollMember(input: $input) {\n    id\n    externalId\n    email\n    status\n    referralCode\n  }\n}',
    variables: { input: { externalId: 'customer-1001', email: 'ada@example.com', name: 'Ada' } },
  },
  {
    title: 'Record a purchase',
    query: 'mutation Purchase($input: RecordPurchaseInput!) {\n  recordPurchase(input: $input) {\n    pointsEarned\n    transaction { id type points status }\n    member { balance { available pending lifetimeEarned } }\n  }\n}',
    variables: { input: { memberId: 'MEMBER-ID', orderId: 'order-1', amount: '129.90', currency: 'USD' } },
  },
  {
    title: 'Balance and statement',
    query: 'query Member($externalId: String!) {\n  member(externalId: $externalId) {\n    id\n    balance { available pending lifetimeEarned lifetimeRedeemed expired expiringSoon(days: 90) { points expiresAt } }\n    tier { current { code name } qualifyingPoints nextTier { code } pointsToNextTier }\n    transactions(first: 10) {\n      totalCount\n      edges { node { id type points status description occurredAt } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n}',
    variables: { externalId: 'customer-1001' },
  },
  {
    title: 'Redeem points',
    query: 'mutation Redeem($input: RedeemPointsInput!) {\n  redeemPoints(input: $input) {\n    id\n    type\n    points\n    status\n  }\n}',
    variables: { input: { memberId: 'MEMBER-ID', points: 50, description: 'Coffee voucher', idempotencyKey: 'redeem-1' } },
  },
  {
    title: 'My account (MEMBER token)',
    query: 'query Me {\n  me {\n    id\n    externalId\n    balance { available pending }\n    tier { current { name } }\n  }\n}',
    variables: {},
  },
];

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2733;background:#f4f6f8;height:100vh;display:flex;flex-direction:column}
header{display:flex;gap:12px;align-items:center;padding:8px 14px;background:#17324d;color:#fff;flex-wrap:wrap}
header h1{font-size:16px;margin:0 12px 0 0;font-weight:600}
header label{font-size:12px;opacity:.85}
header input,header select{font:inherit;padding:4px 6px;border-radius:4px;border:1px solid #8aa;min-width:0}
#token{flex:1;min-width:220px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
button{font:inherit;padding:5px 14px;border-radius:4px;border:0;cursor:pointer;background:#e6ebf0;color:#17324d}
button.primary{background:#2f9e5b;color:#fff;font-weight:600}
button:disabled{opacity:.6;cursor:wait}
main{flex:1;display:grid;grid-template-columns:1fr 1fr;gap:10px;padding:10px;min-height:0}
section{display:flex;flex-direction:column;min-height:0}
section h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#5a6b7b;margin:0 0 4px}
textarea,pre{font:13px/1.45 ui-monospace,Menlo,Consolas,monospace;border:1px solid #cfd8e0;border-radius:4px;background:#fff;padding:8px;margin:0;tab-size:2}
textarea{resize:none;width:100%}
#query{flex:3}
#variables{flex:1;margin-top:4px}
#response{flex:1;overflow:auto;white-space:pre-wrap;word-break:break-word}
#status{font-size:12px;color:#5a6b7b;margin-left:8px;text-transform:none;letter-spacing:0}
.err{color:#b3261e}
footer{font-size:12px;color:#5a6b7b;padding:0 14px 8px}
`;

const SCRIPT = `
(function () {
  var examples = JSON.parse(document.getElementById('examples').textContent);
  var $ = function (id) { return document.getElementById(id); };
  var store = {
    get: function (k) { try { return localStorage.getItem('milepost.' + k); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem('milepost.' + k, v); } catch (e) {} }
  };
  var picker = $('examples-picker');
  examples.forEach(function (ex, i) {
    var o = document.createElement('option'); o.value = String(i); o.textContent = ex.title; picker.appendChild(o);
  });
  function load(i) {
    var ex = examples[i];
    $('query').value = ex.query;
    $('variables').value = JSON.stringify(ex.variables, null, 2);
  }
  $('token').value = store.get('token') || '';
  if (store.get('query')) { $('query').value = store.get('query'); $('variables').value = store.get('variables') || '{}'; }
  else load(0);
  picker.addEventListener('change', function () { if (picker.value !== '') load(Number(picker.value)); picker.value = ''; });
  $('token').addEventListener('change', function () { store.set('token', $('token').value.trim()); });
  $('forget').addEventListener('click', function () { $('token').value = ''; store.set('token', ''); });

  function show(text, isError) { var r = $('response'); r.textContent = text; r.className = isError ? 'err' : ''; }

  async function run() {
    var query = $('query').value;
    var variables = {};
    var raw = $('variables').value.trim();
    if (raw) {
      try { variables = JSON.parse(raw); } catch (e) { show('Variables are not valid JSON: ' + e.message, true); return; }
    }
    store.set('query', query); store.set('variables', raw);
    var token = $('token').value.trim().replace(/^Bearer\\s+/i, '');
    store.set('token', token);
    var headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    var button = $('run'); button.disabled = true; $('status').textContent = 'running…';
    var started = performance.now();
    try {
      var res = await fetch(location.pathname, { method: 'POST', headers: headers, body: JSON.stringify({ query: query, variables: variables }) });
      var text = await res.text();
      var ms = Math.round(performance.now() - started);
      $('status').textContent = 'HTTP ' + res.status + ' · ' + ms + ' ms';
      var body; try { body = JSON.parse(text); } catch (e) { show(text, true); return; }
      show(JSON.stringify(body, null, 2), Boolean(body.errors));
    } catch (e) {
      $('status').textContent = '';
      show('Request failed: ' + e.message, true);
    } finally { button.disabled = false; }
  }
  $('run').addEventListener('click', run);
  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); }
  });
  // Tab inserts two spaces in the editors instead of leaving them.
  ['query', 'variables'].forEach(function (id) {
    $(id).addEventListener('keydown', function (e) {
      if (e.key !== 'Tab' || e.shiftKey) return;
      e.preventDefault();
      var el = e.target, s = el.selectionStart;
      el.value = el.value.slice(0, s) + '  ' + el.value.slice(el.selectionEnd);
      el.selectionStart = el.selectionEnd = s + 2;
    });
  });
})();
`;

// Embedded in a <script type="application/json"> block: "<" is escaped so no text can close it.
const examplesJson = JSON.stringify(EXAMPLES).replace(/</g, '\\u003c');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Milepost GraphQL explorer</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Milepost explorer</h1>
  <select id="examples-picker" aria-label="Example operations"><option value="">Examples…</option></select>
  <label for="token">Bearer token</label>
  <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="paste the output of: npm run token -- --role ADMIN">
  <button id="forget" type="button" title="Remove the token from this browser">Forget</button>
  <button id="run" class="primary" type="button" title="Ctrl+Enter">Run ▶</button>
</header>
<main>
  <section>
    <h2>Operation</h2>
    <textarea id="query" spellcheck="false" aria-label="GraphQL operation"></textarea>
    <h2 style="margin-top:8px">Variables (JSON)</h2>
    <textarea id="variables" spellcheck="false" aria-label="Variables as JSON"></textarea>
  </section>
  <section>
    <h2>Response <span id="status"></span></h2>
    <pre id="response" aria-live="polite">Press Run (or Ctrl+Enter).</pre>
  </section>
</main>
<footer>Requests go to this server only. The token is kept in this browser's localStorage.</footer>
<script type="application/json" id="examples">${examplesJson}</script>
<script>${SCRIPT}</script>
</body>
</html>`;

/** The explorer page's HTML; built once, it holds no per-request data. */
export function explorerPage(): string {
  return PAGE;
}
