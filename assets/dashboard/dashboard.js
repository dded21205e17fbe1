// callsync operations dashboard: plain JavaScript, no dependencies, served by the binary.
// Live data comes from the GraphQL subscriptions over `graphql-transport-ws`; counts and the
// next due tasks are re-read over HTTP after events (so they never drift); a dropped
// connection reconnects with `afterEventId`, so nothing that happened meanwhile is lost.
'use strict';

const TASK_STATUSES = ['PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'];
const CALL_STATUSES = ['QUEUED', 'RINGING', 'IN_PROGRESS', 'COMPLETED', 'NO_ANSWER', 'BUSY', 'VOICEMAIL', 'FAILED', 'CANCELLED'];
const FEED_MAX = 200;
const CHART_MINUTES = 30;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

const TASK_SUBSCRIPTION = `subscription($filter: TaskEventFilter, $after: ID) {
  taskEvents(filter: $filter, afterEventId: $after) {
    eventId kind previousStatus occurredAt
    task { id status attempt scheduledFor customer { id firstName lastName } schedule { id name } }
  }
}`;
const CALL_SUBSCRIPTION = `subscription($filter: CallEventFilter, $after: ID) {
  callEvents(filter: $filter, afterEventId: $after) {
    eventId previousStatus occurredAt
    call { id status to createdAt customer { id firstName lastName } schedule { id name } }
  }
}`;

const $ = (id) => document.getElementById(id);
const session = window.sessionStorage;

let apiKey = session.getItem('callsync.apiKey') || '';
let scheduleId = session.getItem('callsync.scheduleId') || '';
// The last event of each stream this tab has shown: where a reconnect resumes.
const lastEvent = {
  tasks: session.getItem('callsync.lastTaskEvent') || null,
  calls: session.getItem('callsync.lastCallEvent') || null,
};
let socket = null;
let generation = 0;
let attempt = 0;
let retryTimer = null;
let refreshTimer = null;
// The server's clock minus ours (ms): relative times and the chart follow the server's clock,
// which every rule decides by, not the browser's.
let clockOffset = 0;
const callStarts = new Map(); // call id -> creation instant (ms), for the chart

function now() {
  return Date.now() + clockOffset;
}

// `serverTime` as read by a request sent at `sentAt` (ms): the midpoint of the round trip.
function syncClock(serverTime, sentAt) {
  const at = Date.parse(serverTime);
  if (!Number.isNaN(at)) clockOffset = at - (sentAt + Date.now()) / 2;
}

function setState(state, text) {
  const el = $('state');
  el.dataset.state = state;
  el.textContent = text;
  $('board').classList.toggle('stale', state !== 'live');
}

async function gql(query, variables) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': apiKey },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const error = new Error(body.errors[0].message);
    error.code = body.errors[0].extensions && body.errors[0].extensions.code;
    throw error;
  }
  return body.data;
}

function showKeyForm(message) {
  $('key-form').hidden = false;
  $('board').hidden = true;
  $('key-error').textContent = message || '';
  $('api-key').value = '';
  $('api-key').focus();
}

function rejectKey() {
  stop();
  apiKey = '';
  session.removeItem('callsync.apiKey');
  setState('rejected', 'Key rejected');
  showKeyForm('That key was not accepted. Paste a valid API key of your company.');
}

function stop() {
  generation += 1;
  clearTimeout(retryTimer);
  if (socket) {
    socket.onclose = null;
    socket.close();
    socket = null;
  }
}

// Loads the company and its schedules, then the board, then goes live.
async function start() {
  stop();
  setState('connecting', 'Connecting…');
  let data;
  try {
    const sentAt = Date.now();
    data = await gql('{ serverTime viewer { name } schedules(first: 500, orderBy: NAME) { nodes { id name taskType } } }');
    syncClock(data.serverTime, sentAt);
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') return rejectKey();
    return retryLater();
  }
  $('key-form').hidden = true;
  $('board').hidden = false;
  $('company').textContent = data.viewer.name;
  const select = $('schedule');
  select.length = 1;
  for (const s of data.schedules.nodes) {
    select.add(new Option(`${s.name} (${s.taskType})`, s.id));
  }
  if (![...select.options].some((o) => o.value === scheduleId)) scheduleId = '';
  select.value = scheduleId;
  await refresh(true);
  connect();
}

function retryLater() {
  const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
  attempt += 1;
  setState('reconnecting', `Connection lost · retrying in ${Math.ceil(delay / 1000)} s`);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => ($('board').hidden ? start() : connect()), delay);
}

function connect() {
  const mine = ++generation;
  const url = new URL('/graphql', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, 'graphql-transport-ws');
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { apiKey } }));
  ws.onmessage = (message) => {
    if (mine !== generation) return;
    const msg = JSON.parse(message.data);
    if (msg.type === 'connection_ack') {
      const resumed = attempt > 0;
      attempt = 0;
      setState('live', 'Live');
      subscribe(ws);
      // After a gap, re-read what the events do not carry (counts, the due list).
      if (resumed) scheduleRefresh(0);
    } else if (msg.type === 'next') {
      onNext(msg.id, msg.payload);
    } else if (msg.type === 'error') {
      onSubscriptionError(ws, msg.id, msg.payload);
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }));
    }
  };
  ws.onclose = (event) => {
    if (mine !== generation) return;
    socket = null;
    if (event.code === 4403) return rejectKey();
    retryLater();
  };
}

function subscribe(ws, only) {
  const filter = scheduleId ? { scheduleId } : null;
  const streams = { tasks: TASK_SUBSCRIPTION, calls: CALL_SUBSCRIPTION };
  for (const [id, query] of Object.entries(streams)) {
    if (only && only !== id) continue;
    const variables = { filter, after: lastEvent[id] };
    ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  }
}

function onSubscriptionError(ws, id, errors) {
  const first = (errors && errors[0]) || {};
  const ext = first.extensions || {};
  if (ext.code === 'BAD_USER_INPUT' && ext.field === 'afterEventId') {
    // Resumed from an event the server no longer keeps: start afresh and re-read the state.
    lastEvent[id] = null;
    session.removeItem(id === 'tasks' ? 'callsync.lastTaskEvent' : 'callsync.lastCallEvent');
    subscribe(ws, id);
    scheduleRefresh(0);
    return;
  }
  if (ext.code === 'UNAUTHENTICATED') return rejectKey();
  setState('down', `Subscription failed: ${first.message || 'unknown error'}`);
}

function onNext(id, payload) {
  if (payload.errors && payload.errors.length) return onSubscriptionError(socket, id, payload.errors);
  const data = payload.data || {};
  if (data.taskEvents) {
    const e = data.taskEvents;
    remember('tasks', e.eventId);
    const t = e.task;
    addFeed({
      eventId: e.eventId,
      kind: 'TASK',
      at: e.occurredAt,
      customer: t.customer,
      text: `${person(t.customer)} · ${t.schedule.name} · attempt ${t.attempt}`,
      previous: e.kind === 'CREATED' ? 'NEW' : e.previousStatus,
      status: t.status,
    });
  } else if (data.callEvents) {
    const e = data.callEvents;
    remember('calls', e.eventId);
    const c = e.call;
    if (!e.previousStatus && !callStarts.has(c.id)) {
      callStarts.set(c.id, Date.parse(c.createdAt));
    }
    addFeed({
      eventId: e.eventId,
      kind: 'CALL',
      at: e.occurredAt,
      customer: c.customer,
      text: `${masked(c.to)} · ${c.customer ? person(c.customer) : 'one-off number'} · ${c.schedule ? c.schedule.name : ''}`,
      previous: e.previousStatus || 'NEW',
      status: c.status,
    });
    drawChart();
  }
  scheduleRefresh(750);
}

function remember(stream, eventId) {
  lastEvent[stream] = eventId;
  session.setItem(stream === 'tasks' ? 'callsync.lastTaskEvent' : 'callsync.lastCallEvent', eventId);
}

function person(customer) {
  const name = [customer.firstName, customer.lastName].filter(Boolean).join(' ');
  return name ? `${name} (${customer.id})` : customer.id;
}

// Operators need to tell calls apart, not read the number: the last four digits.
function masked(number) {
  return number ? `•••${number.slice(-4)}` : '';
}

function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

function addFeed(item) {
  const li = document.createElement('li');
  li.className = 'new';
  li.dataset.eventId = item.eventId;
  li.dataset.kind = item.kind;
  if (item.customer) li.dataset.customer = item.customer.id;
  li.dataset.status = item.status;
  const time = document.createElement('time');
  time.dateTime = item.at;
  time.textContent = clock(item.at);
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = item.kind;
  const what = document.createElement('span');
  what.className = 'what';
  const change = document.createElement('span');
  change.className = `status s-${item.status}`;
  change.textContent = `${item.previous} → ${item.status}`;
  what.append(change, ` ${item.text}`);
  what.title = `${item.previous} → ${item.status} ${item.text}`;
  li.append(time, kind, what);
  const feed = $('feed');
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $('feed-count').textContent = `${feed.children.length} shown`;
}

// Throttled, not debounced: under a steady stream of events the counts still move (at most
// one re-read per `delay`), and a busy floor's many open pages do not hammer the database.
function scheduleRefresh(delay) {
  if (refreshTimer && delay > 0) return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh(false);
  }, delay);
}

function statusFilter(status) {
  const schedule = scheduleId ? `, scheduleId: ${JSON.stringify(scheduleId)}` : '';
  return `filter: {status: [${status}]${schedule}}`;
}

// Counts by status, the next due tasks and (first time) the recent calls, in one request.
async function refresh(withCalls) {
  const schedule = scheduleId ? `filter: {scheduleId: ${JSON.stringify(scheduleId)}}, ` : '';
  const parts = [
    'serverTime',
    ...TASK_STATUSES.map((s) => `t_${s}: tasks(${statusFilter(s)}, first: 1) { totalCount }`),
    ...CALL_STATUSES.map((s) => `c_${s}: calls(${statusFilter(s)}, first: 1) { totalCount }`),
    `due: tasks(${statusFilter('PENDING')}, first: 10) { nodes { id scheduledFor localScheduledFor attempt customer { id firstName lastName } schedule { name } } }`,
    'holds: customers(filter: {contactHold: true}, orderBy: UPDATED_AT, orderDirection: DESC, first: 10) { nodes { id firstName lastName contactHold { reason since } consent { type revokedAt } } }',
    'optOuts: suppressedNumbers(source: CONSUMER_OPT_OUT, first: 10) { nodes { phoneNumber source addedAt } }',
    'wrong: suppressedNumbers(source: WRONG_NUMBER, first: 10) { nodes { phoneNumber source addedAt } }',
  ];
  if (withCalls) parts.push(`recent: calls(${schedule}first: 500) { nodes { id createdAt } }`);
  let data;
  const sentAt = Date.now();
  try {
    data = await gql(`{ ${parts.join('\n')} }`);
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') return rejectKey();
    return; // the socket's state says what is wrong; the next event retries
  }
  syncClock(data.serverTime, sentAt);
  renderCounts('task-counts', 't', TASK_STATUSES, data);
  renderCounts('call-counts', 'c', CALL_STATUSES, data);
  renderDue(data.due.nodes);
  renderWords(data.holds.nodes, [...data.optOuts.nodes, ...data.wrong.nodes]);
  if (withCalls) {
    callStarts.clear();
    for (const c of data.recent.nodes) {
      callStarts.set(c.id, Date.parse(c.createdAt));
    }
  }
  drawChart();
}

function renderCounts(containerId, prefix, statuses, data) {
  const box = $(containerId);
  for (const status of statuses) {
    const id = `count-${prefix === 't' ? 'task' : 'call'}-${status}`;
    let card = document.getElementById(id);
    if (!card) {
      card = document.createElement('div');
      card.className = 'card';
      card.id = id;
      card.innerHTML = `<div class="n">0</div><div class="l"></div>`;
      card.querySelector('.l').textContent = status.replace('_', ' ');
      box.append(card);
    }
    const n = String(data[`${prefix}_${status}`].totalCount);
    const el = card.querySelector('.n');
    if (el.textContent !== n) {
      el.textContent = n;
      card.classList.add('flash');
      setTimeout(() => card.classList.remove('flash'), 1200);
    }
    card.dataset.count = n;
  }
}

function relative(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes <= 0) return minutes === 0 ? 'now' : 'overdue';
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `in ${hours} h ${minutes % 60} min`;
  return `in ${Math.round(hours / 24)} days`;
}

function localTime(iso) {
  // "2026-12-02T10:00:00-05:00" -> "12-02 10:00 (-05:00)": the customer's own wall clock.
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(.*)$/.exec(iso || '');
  return m ? `${m[1]} ${m[2]} (${m[3] === 'Z' ? 'UTC' : m[3]})` : iso;
}

function renderDue(tasks) {
  const body = $('due');
  body.replaceChildren();
  for (const t of tasks) {
    const row = body.insertRow();
    row.dataset.task = t.id;
    const cells = [
      relative(Date.parse(t.scheduledFor) - now()),
      localTime(t.localScheduledFor),
      person(t.customer),
      t.schedule.name,
      String(t.attempt),
    ];
    for (const text of cells) row.insertCell().textContent = text;
    row.cells[0].title = new Date(t.scheduledFor).toString();
  }
  $('due-empty').hidden = tasks.length > 0;
}

const SOURCES = { CONSUMER_OPT_OUT: 'opt-out on a call', WRONG_NUMBER: 'wrong number on a call' };

function consentText(consent) {
  if (!consent) return 'none on file';
  const kind = consent.type === 'PRIOR_EXPRESS_WRITTEN' ? 'written' : 'express';
  return consent.revokedAt ? `${kind}, revoked` : kind;
}

function renderWords(holds, stopped) {
  const holdBody = $('holds');
  holdBody.replaceChildren();
  for (const c of holds) {
    const row = holdBody.insertRow();
    row.dataset.customer = c.id;
    const cells = [person(c), c.contactHold.reason.replaceAll('_', ' ').toLowerCase(),
      new Date(c.contactHold.since).toLocaleString(), consentText(c.consent)];
    for (const text of cells) row.insertCell().textContent = text;
  }
  $('holds-empty').hidden = holds.length > 0;
  const stoppedBody = $('stopped');
  stoppedBody.replaceChildren();
  stopped.sort((a, b) => Date.parse(b.addedAt) - Date.parse(a.addedAt));
  for (const s of stopped) {
    const row = stoppedBody.insertRow();
    row.dataset.source = s.source;
    const cells = [masked(s.phoneNumber), SOURCES[s.source] || s.source, new Date(s.addedAt).toLocaleString()];
    for (const text of cells) row.insertCell().textContent = text;
  }
  $('stopped-empty').hidden = stopped.length > 0;
}

function drawChart() {
  const svg = $('chart');
  const end = now();
  const start = end - CHART_MINUTES * 60000;
  const buckets = new Array(CHART_MINUTES).fill(0);
  for (const at of callStarts.values()) {
    if (at > start && at <= end) {
      buckets[Math.min(CHART_MINUTES - 1, Math.floor((at - start) / 60000))] += 1;
    }
  }
  const max = Math.max(1, ...buckets);
  const width = 600 / CHART_MINUTES;
  const bars = buckets.map((n, i) => {
    const h = n === 0 ? 0 : Math.max(3, (n / max) * 110);
    return `<rect x="${i * width + 1}" y="${120 - h}" width="${width - 2}" height="${h}" rx="2"><title>${n} calls</title></rect>`;
  });
  svg.innerHTML = bars.join('');
  const total = buckets.reduce((a, b) => a + b, 0);
  svg.dataset.total = String(total);
  svg.dataset.lastMinute = String(buckets[CHART_MINUTES - 1]);
  $('chart-total').textContent = `${total} call${total === 1 ? '' : 's'} · peak ${total === 0 ? 0 : max}/min`;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('api-key').value.trim();
  if (!value) return;
  apiKey = value;
  session.setItem('callsync.apiKey', apiKey);
  attempt = 0;
  start();
});

$('change-key').addEventListener('click', () => {
  stop();
  setState('idle', 'Not connected');
  showKeyForm('');
});

$('schedule').addEventListener('change', (event) => {
  scheduleId = event.target.value;
  session.setItem('callsync.scheduleId', scheduleId);
  $('feed').replaceChildren();
  stop();
  start();
});

document.addEventListener('keydown', (event) => {
  const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName);
  if (event.key === '/' && !typing && !$('board').hidden) {
    event.preventDefault();
    $('schedule').focus();
  }
});

// A bug must not look like a quiet page: say so where the connection state is shown.
window.addEventListener('error', (event) => setState('down', `Page error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => setState('down', `Page error: ${event.reason}`));

setInterval(drawChart, 15000);

if (apiKey) {
  start();
} else {
  showKeyForm('');
}
