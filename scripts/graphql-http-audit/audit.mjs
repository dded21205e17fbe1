// graphql-http's own audit of the GraphQL-over-HTTP specification (`auditServer`, the
// reference implementation's), run against a callsync server with its API key on every request.
//
//   cd scripts/graphql-http-audit && npm ci
//   CALLSYNC_KEY=csk_… node audit.mjs [http://127.0.0.1:8080/graphql]
//
// Prints one line per audit and the counts passed per level (MUST, SHOULD, MAY); exits 1 when a
// MUST or a SHOULD fails (a MAY is reported, not required).
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? process.env.CALLSYNC_URL ?? 'http://127.0.0.1:8080/graphql';
const key = process.env.CALLSYNC_KEY;
if (!key) {
  console.error('set CALLSYNC_KEY to an API key (callsync company create --name Audit prints one)');
  process.exit(2);
}

// The audit's requests as it sends them, plus the key.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('x-api-key', key);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const levels = { MUST: [0, 0], SHOULD: [0, 0], MAY: [0, 0] };
for (const result of results) {
  const level = result.name.split(' ')[0];
  levels[level][1] += 1;
  if (result.status === 'ok') {
    levels[level][0] += 1;
    console.log(`ok    ${result.id} ${result.name}`);
  } else {
    const body = await result.response.text().catch(() => '');
    console.log(`FAIL  ${result.id} ${result.name}: ${result.reason} (${result.response.status}) ${body.slice(0, 300)}`);
  }
}
console.log(
  Object.entries(levels)
    .map(([level, [passed, all]]) => `${level} ${passed}/${all}`)
    .join(', '),
);
process.exit(levels.MUST[0] === levels.MUST[1] && levels.SHOULD[0] === levels.SHOULD[1] ? 0 : 1);
