// Starts GraphiQL against this server (a file of its own: the page's Content-Security-Policy
// allows no inline script).
const url = (path, ws) => {
  const u = new URL(path, window.location.origin);
  if (ws) u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
};
// The API key: typed once per tab (kept in sessionStorage, never in a URL). Requests carry
// it as X-API-Key; subscriptions send it in connection_init.
const key = sessionStorage.getItem('callsync.apiKey') || '';
const fetcher = GraphiQL.createFetcher({
  url: url('/graphql'),
  subscriptionUrl: url('/graphql', true),
  headers: key ? { 'X-API-Key': key } : {},
  wsConnectionParams: key ? { apiKey: key } : {},
});
const defaultHeaders = key ? '' : '{\n  "X-API-Key": "paste your key here"\n}';
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultHeaders, defaultEditorToolsVisibility: true })
);
