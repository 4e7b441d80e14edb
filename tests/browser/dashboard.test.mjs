// dashboard.test.mjs: the dashboard in a real browser against a real station.
//
// Debian's chromium, headless, driven by playwright-core, against
// `certstation run` with SoftHSM2 (`init --demo`), real users
// (`certstation user add`) and `certstation sim` playing four devices'
// fixtures on pseudo-terminals, one of them reading back a wrong hash. What
// an operator and a supervisor do, checked on what the page shows:
//
//   log in (a wrong password first) -> four tiles, DISCONNECTED until the
//   simulator plugs its ports in -> tiles and counters change live (no
//   reload) -> the wrong read-back shows on its tile, in failures by reason
//   and in recent devices -> pause a slot: its tile says PAUSED and no new
//   device starts there while the others go on; resume -> export CSV: the
//   download has the header and every device the simulator saw pass -> a
//   device's detail with its chain and the PEM download -> the CA/HSM panel
//   -> an operator sees no supervisor actions and is told so when the
//   server refuses one (403) -> a lost session sends the page to the login
//   form (401) -> the station stops: the page says it is offline.
//
// usage: node dashboard.test.mjs --certstation BIN --out DIR
// Exit: 0 passed, 1 failed, 77 skipped (no chromium, no node_modules: it
// says which). Artifacts in --out: overview.png (printed), tablet.png, ca.png, export.csv, and
// on failure failure.png with the station's and simulator's logs.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.resolve(here, '..', '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const csBin = arg('certstation', path.join(srcDir, 'build', 'certstation'));
const outDir = path.resolve(arg('out', path.join(srcDir, 'build', 'tests', 'browser')));
const chromiumPath = process.env.CERTSTATION_CHROMIUM || '/usr/bin/chromium';

// ------------------------------------------------------------ skip, honestly

if (!fs.existsSync(chromiumPath)) {
  console.log(`SKIPPED: chromium not installed (${chromiumPath}; deploy/install-deps.sh installs Debian's chromium)`);
  process.exit(SKIP);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.log(`SKIPPED: node_modules has no playwright-core: run \`npm ci\` in ${srcDir} (${e.code || e.message})`);
  process.exit(SKIP);
}
if (!fs.existsSync(csBin)) {
  console.error(`FAIL: ${csBin} does not exist (build certstation first)`);
  process.exit(1);
}

// ------------------------------------------------------------ bookkeeping

const t0 = Date.now();
let checks = 0;
const failures = [];

function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
}

// check: a soft assertion (the run goes on, the test fails at the end)
function check(cond, msg) {
  checks++;
  if (!cond) {
    failures.push(msg);
    console.error(`FAIL: ${msg}`);
  }
  return cond;
}

// must: a hard assertion (nothing after it makes sense without it)
class Fatal extends Error {}
function must(cond, msg) {
  checks++;
  if (!cond) throw new Fatal(msg);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------ the station

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'certstation-browser.'));
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startProcess(name, argv, logFile) {
  const fd = fs.openSync(logFile, 'w');
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], cwd: work });
  fs.closeSync(fd);
  p.exitCode_ = null;
  p.on('exit', (code, sig) => { p.exitCode_ = code !== null ? code : sig; });
  p.name_ = name;
  p.log_ = logFile;
  children.push(p);
  return p;
}

async function stopProcess(p, ms = 8000) {
  if (p.exitCode_ !== null) return p.exitCode_;
  p.kill('SIGTERM');
  const until = Date.now() + ms;
  while (p.exitCode_ === null && Date.now() < until) await sleep(50);
  if (p.exitCode_ === null) {
    p.kill('SIGKILL');
    while (p.exitCode_ === null) await sleep(20);
    return 'SIGKILL';
  }
  return p.exitCode_;
}

function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (_) {
    return '(no log)';
  }
}

const SLOTS = ['sim-0', 'sim-1', 'sim-2', 'sim-3'];
const USERS = {
  supervisor: { name: 'ana', password: 'correct horse battery' },
  operator: { name: 'otto', password: 'operator pass 1234' },
};

async function setUpStation() {
  const pki = path.join(work, 'pki');
  execFileSync(csBin, ['init', '--demo', pki], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60000 });
  const cfg = JSON.parse(fs.readFileSync(path.join(pki, 'certstation.json'), 'utf8'));

  // The fixture map the simulator would write, written first: the station
  // starts with every slot DISCONNECTED and sees the ports appear (hot-plug)
  // while the page watches.
  const links = path.join(work, 'links');
  const map = path.join(work, 'fixtures.json');
  fs.writeFileSync(map, JSON.stringify({
    slots: SLOTS.map((name) => ({ name, match: { path: path.join(links, name) }, dialect: 'frame', baud: 115200 })),
  }));
  const port = await freePort();
  cfg.line = {
    fixture_map: map,
    scan_interval_ms: 200,
    timeouts: { csr_ms: 4000, readback_ms: 4000, exchange_ms: 8000 },
  };
  cfg.web = { port, users: 'users.json' };
  const cfgPath = path.join(pki, 'browser.json'); // beside the demo config: its relative paths hold
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));

  for (const [role, u] of Object.entries(USERS)) {
    execFileSync(csBin, ['user', 'add', '--config', cfgPath, u.name, '--role', role],
      { input: `${u.password}\n`, stdio: ['pipe', 'ignore', 'pipe'], timeout: 30000 });
  }

  const base = `http://127.0.0.1:${port}`;
  const run = await startStation(cfgPath, base, 'run.log');
  return { base, links, run, cfgPath };
}

// `certstation run`, once its dashboard answers
async function startStation(cfgPath, base, logName) {
  const run = startProcess('certstation run', [csBin, 'run', '--config', cfgPath], path.join(work, logName));
  const until = Date.now() + 20000;
  for (;;) {
    if (run.exitCode_ !== null) throw new Fatal(`certstation run exited (${run.exitCode_}): ${tail(run.log_)}`);
    try {
      const res = await fetch(base + '/');
      if (res.ok) break;
    } catch (_) {
      // not listening yet
    }
    if (Date.now() > until) throw new Fatal(`the dashboard did not answer on ${base} within 20 s: ${tail(run.log_)}`);
    await sleep(100);
  }
  return run;
}

function startSimulator(links) {
  // one wrong read-back: the 2nd device on port 1 (slot sim-1)
  return startProcess('certstation sim', [csBin, 'sim', '--count', String(SLOTS.length), '--baud', '115200',
    '--id-prefix', 'BRW-', '--links', links, '--store', path.join(work, 'store'),
    '--fault', 'wrong-readback:port=1.2', '--gap-ms', '400', '--timeout-ms', '6000'],
  path.join(work, 'sim.log'));
}

function simPassedIds(sim) {
  const ids = [];
  for (const line of fs.readFileSync(sim.log_, 'utf8').split('\n')) {
    const m = /^sim-\d+ (\S+) PASS /.exec(line);
    if (m) ids.push(m[1]);
  }
  return ids;
}

// ------------------------------------------------------------ page helpers

// What the tiles and the big numbers showed over time: a MutationObserver
// in the page, so a state that lasts a fraction of a second is seen too.
async function installRecorder(page) {
  await page.evaluate(() => {
    window.__marker = 'no reload';
    window.__tiles = [];
    window.__kpi = [];
    const last = new Map();
    const snap = () => {
      for (const t of document.querySelectorAll('#slots .slot')) {
        const q = (f) => (t.querySelector(`[data-f=${f}]`) || {}).textContent || '';
        const s = { slot: t.dataset.slot, state: t.dataset.state, step: q('step'), reason: q('reason'),
          passed: q('passed'), failed: q('failed'), t: Date.now() };
        const key = `${s.state}|${s.step}|${s.reason}|${s.passed}|${s.failed}`;
        if (last.get(s.slot) !== key) {
          last.set(s.slot, key);
          window.__tiles.push(s);
        }
      }
      const fail = document.querySelector('#recent tr[data-result="fail"]');
      if (fail && !window.__recentFail) window.__recentFail = fail.textContent;
      const k = document.getElementById('kpi-devices').textContent;
      if (window.__kpi[window.__kpi.length - 1] !== k) window.__kpi.push(k);
    };
    snap();
    new MutationObserver(snap).observe(document.getElementById('app'),
      { subtree: true, childList: true, attributes: true, characterData: true });
  });
}

const tile = (name) => `#slots .slot[data-slot="${name}"]`;

async function tileCounts(page, name) {
  return page.evaluate((sel) => {
    const t = document.querySelector(sel);
    const n = (f) => Number((t.querySelector(`[data-f=${f}]`).textContent.match(/\d+/) || ['NaN'])[0]);
    return { passed: n('passed'), failed: n('failed'), state: t.dataset.state };
  }, tile(name));
}

async function kpiDevices(page) {
  return Number((await page.textContent('#kpi-devices')).replace(/[^\d]/g, '') || 'NaN');
}

async function login(page, base, u) {
  await page.goto(base + '/');
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });
  await page.fill('#login-user', u.name);
  await page.fill('#login-password', u.password);
  await page.click('#login-submit');
  await page.waitForSelector('#app', { state: 'visible', timeout: 10000 });
}

// ------------------------------------------------------------ the test

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(path.join(outDir, 'failure.png'), { force: true }); // from an earlier run
  log(`work dir ${work}`);
  const { base, links, run, cfgPath } = await setUpStation();
  log(`station on ${base}`);

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Chromium's sandbox needs user namespaces a root process in a container lacks
    // (and a container's /dev/shm is often too small for its shared memory)
    args: ['--disable-dev-shm-usage', ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])],
  });
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const consoleProblems = [];
  let stationStopped = false;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // the event stream cut by the station's stop, and the page's reconnects
    if (stationStopped && /net::ERR_/.test(m.text())) return;
    // the 401/403 answers this test provokes are logged by the browser as well
    if (/Failed to load resource: the server responded with a status of 40[13]/.test(m.text())) return;
    consoleProblems.push(m.text());
  });
  page.on('pageerror', (e) => consoleProblems.push(`uncaught: ${e.message}`));

  try {
    // --- login: a wrong password first, then the supervisor
    await page.goto(base + '/');
    await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });
    must(await page.isHidden('#app'), 'the dashboard is hidden before login');
    await page.fill('#login-user', USERS.supervisor.name);
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.waitForSelector('#login-error', { state: 'visible', timeout: 5000 });
    check((await page.textContent('#login-error')).includes('Wrong user name or password'),
      `wrong password message: "${await page.textContent('#login-error')}"`);
    await page.fill('#login-password', USERS.supervisor.password);
    await page.click('#login-submit');
    await page.waitForSelector('#app', { state: 'visible', timeout: 10000 });
    check((await page.textContent('#user-name')) === USERS.supervisor.name, 'user name in the top bar');
    check((await page.textContent('#user-role')) === 'supervisor', 'role in the top bar');
    log('logged in as supervisor');

    // --- four tiles, disconnected: nothing is plugged in yet
    await page.waitForFunction((n) => document.querySelectorAll('#slots .slot').length === n,
      SLOTS.length, { timeout: 10000 });
    for (const s of SLOTS) {
      const c = await tileCounts(page, s);
      check(c.state === 'disconnected', `${s} is disconnected before the simulator starts (${c.state})`);
    }
    check((await page.textContent(`${tile('sim-0')} [data-f=state]`)) === 'DISCONNECTED', 'tile says DISCONNECTED');
    await page.waitForSelector('#pill-live[data-state="live"]', { timeout: 10000 });
    check((await kpiDevices(page)) === 0, 'no device this shift yet');
    await installRecorder(page);

    // --- the simulator plugs in four fixtures: tiles and counters move live
    const sim = startSimulator(links);
    log('simulator started');
    await page.waitForFunction(() => [...document.querySelectorAll('#slots .slot')]
      .every((t) => t.dataset.state !== 'disconnected'), null, { timeout: 15000 });
    log('every slot connected');
    // the big numbers follow the 1 s `stats` event: four different values
    // seen means they moved at least three times without a reload
    await page.waitForFunction(() => window.__kpi.length >= 4 &&
      Number(document.getElementById('kpi-devices').textContent) >= 6, null, { timeout: 30000 });
    const kpiSeen = await page.evaluate(() => window.__kpi);
    const nums = kpiSeen.map((k) => Number(k)).filter((n) => !Number.isNaN(n));
    check(nums.length >= 4 && nums.every((n, i) => i === 0 || n >= nums[i - 1]),
      `devices this shift rose step by step (${kpiSeen.join(' → ')})`);
    check(await page.evaluate(() => window.__marker === 'no reload'), 'updates came without reloading the page');
    const tilesSeen = await page.evaluate(() => window.__tiles);
    check(tilesSeen.some((x) => x.state === 'exchange' && x.step !== ''),
      'a tile showed an exchange with its current step');
    check(tilesSeen.some((x) => x.state === 'pass'), 'a tile showed PASS');
    let tileSum = 0;
    for (const s of SLOTS) tileSum += (await tileCounts(page, s)).passed;
    check(tileSum >= 5, `the tiles count passed devices (${tileSum})`);
    check(/\d/.test(await page.textContent('#kpi-rate')), 'devices/hour shows a number');
    log(`devices this shift: ${kpiSeen.join(' → ')}`);

    // --- the wrong read-back on sim-1, with its reason, in three places
    await page.waitForSelector('#failures .bar-row[data-reason="readback-mismatch"]', { timeout: 20000 });
    check((await page.textContent('#failures .bar-row[data-reason="readback-mismatch"] .bar-label')) === 'read-back mismatch',
      'failures by reason names the read-back mismatch');
    check((await page.textContent('#failures .bar-row[data-reason="readback-mismatch"] .bar-count')) === '1',
      'failures by reason counts it once');
    const failTile = (await page.evaluate(() => window.__tiles))
      .find((x) => x.slot === 'sim-1' && x.state === 'fail');
    check(failTile && failTile.reason === 'read-back mismatch',
      `sim-1's tile showed FAIL with its reason (${JSON.stringify(failTile)})`);
    check(!(await page.evaluate(() => window.__tiles)).some((x) => x.state === 'fail' && x.slot !== 'sim-1'),
      'no other slot failed');
    const recentFail = await page.evaluate(() => window.__recentFail || '');
    check(recentFail.includes('sim-1') && recentFail.includes('read-back mismatch'),
      `recent devices showed the failure, its slot and reason ("${recentFail}")`);
    check(Number(await page.textContent('#kpi-failed')) >= 1, 'the failed counter counts it');
    const yieldText = await page.textContent('#kpi-yield');
    check(/^\d+(\.\d)? %$/.test(yieldText) && parseFloat(yieldText) < 100 && parseFloat(yieldText) > 50,
      `yield is below 100 % (${yieldText})`);
    log(`failure seen; yield ${yieldText}`);

    // --- pause sim-3: PAUSED, and no new device starts there
    await page.click(`${tile('sim-3')} [data-f=pause]`);
    await page.waitForSelector(`${tile('sim-3')}[data-state="paused"]`, { timeout: 5000 });
    const pausedAt = Date.now();
    check((await page.textContent(`${tile('sim-3')} [data-f=state]`)) === 'PAUSED', 'the tile says PAUSED');
    check((await page.textContent(`${tile('sim-3')} [data-f=pause]`)) === 'Resume', 'its button offers Resume');
    await page.waitForSelector('.toast:has-text("Slot sim-3 paused.")', { timeout: 5000 });
    // an exchange in flight when the pause came ends FAILED(aborted): let it land
    await sleep(500);
    const before = await tileCounts(page, 'sim-3');
    const kpiBefore = await kpiDevices(page);
    await sleep(3500);
    const after = await tileCounts(page, 'sim-3');
    const kpiAfter = await kpiDevices(page);
    check(after.state === 'paused', `sim-3 stays paused (${after.state})`);
    check(after.passed === before.passed && after.failed === before.failed,
      `no device finished on the paused slot (${JSON.stringify(before)} → ${JSON.stringify(after)})`);
    check(!(await page.evaluate((t) => window.__tiles.some((x) => x.slot === 'sim-3' && x.t > t && x.state !== 'paused'), pausedAt)),
      'the paused tile never left PAUSED (no exchange started there)');
    check(kpiAfter > kpiBefore, `the other slots went on (${kpiBefore} → ${kpiAfter})`);
    const apiSlot = await page.evaluate(async () => (await fetch('/api/v1/fixtures/sim-3')).json());
    check(apiSlot.state === 'paused' && apiSlot.passed === after.passed, 'the API agrees with the tile');
    await page.click(`${tile('sim-3')} [data-f=pause]`);
    await page.waitForFunction((sel) => document.querySelector(sel).dataset.state !== 'paused',
      tile('sim-3'), { timeout: 5000 });
    await page.waitForFunction(({ sel, n }) => Number(document.querySelector(`${sel} [data-f=passed]`).textContent.match(/\d+/)[0]) > n,
      { sel: tile('sim-3'), n: after.passed }, { timeout: 15000 });
    log('pause and resume of sim-3 seen');

    // --- export CSV (supervisor): the whole ledger
    must(await page.isVisible('#export-form'), 'the supervisor sees the export form');
    const passedIds = simPassedIds(sim);
    await page.fill('#export-from', '');
    await page.fill('#export-to', '');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('#export-submit')]);
    const csvPath = path.join(outDir, 'export.csv');
    await download.saveAs(csvPath);
    const csv = fs.readFileSync(csvPath, 'utf8');
    check(/^certstation-ledger.*\.csv$/.test(download.suggestedFilename()), `export file name (${download.suggestedFilename()})`);
    check(csv.split(/\r?\n/)[0].startsWith('id,device_id,serial,'), `CSV header row: ${csv.split(/\r?\n/)[0].slice(0, 80)}`);
    check(passedIds.length >= 6, `the simulator saw devices pass (${passedIds.length})`);
    const missing = passedIds.filter((id) => !new RegExp(`^\\d+,${id},[^\\n]*,VERIFIED,`, 'm').test(csv));
    check(missing.length === 0, `every passed device is VERIFIED in the export (missing: ${missing.join(' ')})`);
    check(/,FAILED,readback-mismatch,/.test(csv), 'the export has the failed device and its reason');
    await page.waitForSelector('.toast:has-text("Exported")', { timeout: 5000 });
    log(`export: ${csv.length} bytes, ${passedIds.length} passed devices found in it`);

    // --- the overview, as an artifact
    const shot = path.join(outDir, 'overview.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);

    // --- pause the whole line (the list of recent devices stops moving)
    await page.click('#line-pause');
    await page.waitForFunction(() => [...document.querySelectorAll('#slots .slot')]
      .every((t) => t.dataset.state === 'paused'), null, { timeout: 5000 });
    await page.waitForSelector('.toast:has-text("Every slot paused.")', { timeout: 5000 });
    await sleep(300); // an exchange aborted by the pause lands in the list

    // --- a device's detail: its chain and the PEM download
    const row = page.locator('#recent tr[data-result="pass"]').first();
    const devId = (await row.locator('td').nth(1).textContent()).trim();
    const rowId = await row.getAttribute('data-id');
    await row.click();
    await page.waitForFunction((id) => location.hash === `#/issuance/${id}`, rowId, { timeout: 5000 });
    await page.waitForSelector('#view-issuance:not([hidden]) .chain-item', { timeout: 10000 });
    check((await page.textContent('#detail-title')).includes(devId), `detail of ${devId}`);
    const chainItems = await page.locator('#detail-chain .chain-item').count();
    check(chainItems >= 2, `the chain has the device and CA certificates (${chainItems})`);
    check((await page.textContent('#detail-chain .chain-item >> nth=0')).includes(`CN=${devId}`),
      'the first certificate is the device\'s (CN = its ID)');
    check((await page.textContent('#detail-chain .chain-item >> nth=1 >> .chain-role')) === 'Issuing CA',
      'the second is the issuing CA');
    check((await page.textContent('#detail-fields')).includes('VERIFIED'), 'state VERIFIED in the detail');
    check(/Fixture.*\/links\/sim-\d/.test(await page.textContent('#detail-fields')),
      'the detail names the fixture the device was on');
    const [pemDl] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click('#detail-pem')]);
    const pem = fs.readFileSync(await pemDl.path(), 'utf8');
    check((pem.match(/-----BEGIN CERTIFICATE-----/g) || []).length === chainItems,
      'the PEM download holds the chain shown');
    log(`detail of ${devId}: ${chainItems} certificates`);
    await page.click('.tabs a[data-view="overview"]');
    await page.click('#line-resume');
    await page.waitForFunction(() => [...document.querySelectorAll('#slots .slot')]
      .every((t) => t.dataset.state !== 'paused'), null, { timeout: 5000 });

    // --- CA / HSM
    await page.click('.tabs a[data-view="ca"]');
    await page.waitForSelector('#ca-chain tr[data-role="issuing"]', { timeout: 10000 });
    check((await page.textContent('#hsm-fields')).includes('ok'), 'HSM state ok');
    const hsmText = await page.textContent('#hsm-fields');
    check(/Sign latencyp50 ≤ [\d,]+ µs · p99 ≤ [\d,]+ µs/.test(hsmText), `sign latency shown (${hsmText})`);
    check(/certstation-demo \/ issuing-ca/.test(hsmText), 'the HSM token and key label');
    check(/[1-9][\d,]* good/.test(hsmText), 'signatures counted');
    check((await page.textContent('#ca-chain tr[data-role="issuing"]')).includes('CN='), 'issuing CA subject');
    check((await page.textContent('#ca-key')).includes('P-'), 'CA key type');
    await page.screenshot({ path: path.join(outDir, 'ca.png') });
    await page.click('.tabs a[data-view="issuances"]');
    await page.fill('#search-device', passedIds[0]);
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction((id) => {
      const rows = document.querySelectorAll('#issuances tr');
      return rows.length === 1 && rows[0].textContent.includes(id);
    }, passedIds[0], { timeout: 10000 });
    check((await page.textContent('#search-total')).startsWith('1 match'), 'searching a device ID finds it alone');
    await page.selectOption('#search-state', 'FAILED');
    await page.fill('#search-device', '');
    await page.click('#search-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#issuances tr').length >= 1 &&
      [...document.querySelectorAll('#issuances tr')].every((r) => r.dataset.state === 'FAILED'), null, { timeout: 10000 });
    // a failure reason on the overview lists its issuances
    await page.click('.tabs a[data-view="overview"]');
    await page.click('#failures .bar-row[data-reason="readback-mismatch"]');
    await page.waitForFunction(() => location.hash.startsWith('#/issuances') &&
      document.querySelectorAll('#issuances tr').length === 1, null, { timeout: 10000 });
    check((await page.textContent('#issuances tr')).includes('read-back mismatch') &&
      (await page.getAttribute('#issuances tr', 'data-state')) === 'FAILED', 'the reason lists its one failed issuance');
    check((await page.textContent('#search-total')).includes('reason: read-back mismatch'), 'the list says which reason');
    log('CA panel and search checked');

    // --- an operator: no supervisor actions; a refused one says why (403)
    const octx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const op = await octx.newPage();
    await login(op, base, USERS.operator);
    check((await op.textContent('#user-role')) === 'operator', 'operator role shown');
    check(await op.isHidden('#export-form'), 'an operator does not see the export');
    check(await op.isHidden('#new-shift'), 'an operator does not see new shift');
    await op.waitForSelector(`${tile('sim-0')} [data-f=pause]`, { state: 'visible', timeout: 10000 });
    // a stale page (a role changed on the server) would still offer it: the server refuses
    await op.evaluate(() => {
      document.querySelector('.supervisor-panel').hidden = false;
      document.body.dataset.role = 'supervisor';
    });
    await op.evaluate(() => document.getElementById('export-form').requestSubmit());
    await op.waitForSelector('.toast.error', { timeout: 5000 });
    const opToast = await op.textContent('.toast.error');
    check(opToast.includes('Your role (operator) cannot do this'), `403 message: "${opToast}"`);
    // the session is gone (cookie lost, station restarted): back to login
    await octx.clearCookies();
    await op.click(`${tile('sim-0')} [data-f=pause]`);
    await op.waitForSelector('#login-view', { state: 'visible', timeout: 5000 });
    check((await op.textContent('#login-error')).includes('session ended'), 'a 401 sends the page to the login form');
    await octx.close();
    check((await tileCounts(page, 'sim-0')).state !== 'paused', 'the refused pause did not pause sim-0');
    log('operator role checked');

    // --- a tablet held upright: everything fits the width (no sideways
    // scrolling), the big numbers and every tile are on the page
    const tctx = await browser.newContext({ viewport: { width: 800, height: 1280 }, isMobile: true, hasTouch: true });
    const tab = await tctx.newPage();
    await login(tab, base, USERS.operator);
    await tab.waitForSelector('#pill-live[data-state="live"]', { timeout: 10000 });
    const fit = await tab.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      width: document.documentElement.clientWidth,
    }));
    check(fit.scroll <= fit.width, `tablet: the page fits the width (${fit.scroll} <= ${fit.width} px)`);
    check((await tab.locator('#slots .slot').count()) === SLOTS.length, 'tablet: every fixture tile is shown');
    for (const id of ['#kpi-devices', '#kpi-rate', '#kpi-yield']) {
      const box = await tab.locator(id).boundingBox();
      check(box !== null && box.x >= 0 && box.x + box.width <= fit.width, `tablet: ${id} is inside the screen`);
    }
    await tab.screenshot({ path: path.join(outDir, 'tablet.png'), fullPage: true });
    await tctx.close();
    log('tablet layout checked');

    // --- a new shift (supervisor): two clicks, the shift's numbers restart
    await page.click('.tabs a[data-view="overview"]');
    await page.click('#new-shift');
    check((await page.textContent('#new-shift')).includes('again'), 'new shift asks for a second click');
    await page.click('#new-shift');
    await page.waitForSelector('#pill-shift:has-text("shift 2")', { timeout: 5000 });
    await page.waitForSelector('.toast:has-text("Shift 2 started")', { timeout: 5000 });
    check(Number(await page.textContent('#kpi-shift-no')) === 2, 'shift number 2 on the overview');
    check((await kpiDevices(page)) < kpiAfter, 'devices this shift restarted');
    log('new shift checked');

    // --- the station stops: the page says it lost the live connection
    stationStopped = true;
    const rc = await stopProcess(run);
    await stopProcess(sim);
    check(rc === 0, `certstation run stopped cleanly (exit ${rc})`);
    await page.waitForSelector('#pill-live:not([data-state="live"])', { timeout: 10000 });
    check(/offline|connecting/.test(await page.textContent('#pill-live')), 'the page shows it is not live');

    // --- it comes back: sessions did not survive the restart, so the page's
    // reconnect finds a 401 and asks for a login; then it is live again
    await startStation(cfgPath, base, 'run2.log');
    await page.waitForSelector('#login-view', { state: 'visible', timeout: 15000 });
    check((await page.textContent('#login-error')).includes('session ended'),
      `after the restart the page asks to log in again ("${await page.textContent('#login-error')}")`);
    await page.fill('#login-user', USERS.supervisor.name);
    await page.fill('#login-password', USERS.supervisor.password);
    await page.click('#login-submit');
    await page.waitForSelector('#pill-live[data-state="live"]', { timeout: 10000 });
    check((await page.locator('#slots .slot').count()) === SLOTS.length, 'the tiles are back after the reconnect');
    check((await page.textContent('#pill-shift')) === 'shift 1', 'a restarted station starts at shift 1');
    log('reconnect after a restart checked');

    const csp = consoleProblems.filter((m) => /Content.Security.Policy|Refused to/i.test(m));
    check(csp.length === 0, `no Content-Security-Policy violations (${csp.join(' | ')})`);
    check(consoleProblems.length === 0, `no errors in the browser console (${consoleProblems.join(' | ')})`);
  } catch (e) {
    failures.push(e instanceof Fatal ? e.message : `${e.name}: ${e.message}`);
    console.error(`FAIL: ${e instanceof Fatal ? e.message : e.stack}`);
    try {
      const shot = path.join(outDir, 'failure.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.error(`failure screenshot: ${shot}`);
    } catch (_) {
      // the browser itself is gone
    }
    if (consoleProblems.length) console.error(`browser console: ${consoleProblems.join('\n  ')}`);
  } finally {
    await browser.close().catch(() => {});
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  failures.push(e.message);
  console.error(`FAIL: ${e instanceof Fatal ? e.message : e.stack}`);
}
for (const p of children) {
  const rc = await stopProcess(p);
  // the station must stop cleanly every time, and a sanitizer build must have nothing to say
  if (p.name_ === 'certstation run') {
    check(rc === 0, `${p.log_}: certstation run exit ${rc}`);
    check(!/AddressSanitizer|runtime error:|LeakSanitizer/.test(fs.readFileSync(p.log_, 'utf8')),
      `${p.log_}: sanitizer report`);
  }
}
if (failures.length > 0) {
  code = 1;
  for (const p of children) console.error(`--- ${p.name_} (${p.log_}):\n${tail(p.log_, 25)}`);
  console.error(`kept ${work} for a look`);
} else {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`dashboard.test.mjs: ${checks} checks, ${failures.length} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(code);
