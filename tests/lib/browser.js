#!/usr/bin/env node
// browser.js — load pages in headless Chromium (Debian's chromium) and report
// what a person would see: status, title, the DOM, console errors and a
// screenshot. Talks the DevTools protocol over --remote-debugging-pipe, so it
// needs no npm package and no WebSocket.
//
//   node tests/lib/browser.js OUTDIR < jobs.json > results.json
//
// jobs.json: [{"name": "...", "url": "...", "headers": {...}, "mobile": true,
//              "fill": {"field id": "value"}, "submit": "form id"}] (fill and submit: optional)
// results:   [{"name", "status", "title", "lang", "text", "html", "scroll_width",
//              "viewport_width", "console": [{"source","level","text","url"}],
//              "screenshot"}]
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const outdir = process.argv[2] || '.tmp/pages';
const chromium = process.env.SHILIAN_CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(outdir, { recursive: true });
const jobs = JSON.parse(fs.readFileSync(0, 'utf8'));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shilian-chromium-'));

const browser = spawn(chromium, [
	'--headless', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu',
	'--no-first-run', '--no-default-browser-check', '--disable-extensions',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--user-data-dir=' + profile, 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
browser.stdio[2].on('data', (d) => { stderr += d; });

let nextId = 1;
const pending = new Map();
const listeners = [];
let buf = Buffer.alloc(0);
browser.stdio[4].on('data', (chunk) => {
	buf = Buffer.concat([buf, chunk]);
	let nul;
	while ((nul = buf.indexOf(0)) >= 0) {
		const msg = JSON.parse(buf.subarray(0, nul).toString('utf8'));
		buf = buf.subarray(nul + 1);
		if (msg.id && pending.has(msg.id)) {
			const { resolve, reject } = pending.get(msg.id);
			pending.delete(msg.id);
			if (msg.error) reject(new Error(JSON.stringify(msg.error))); else resolve(msg.result);
		} else if (msg.method) {
			for (const l of listeners) l(msg);
		}
	}
});

function send(method, params = {}, sessionId) {
	const id = nextId++;
	const msg = { id, method, params };
	if (sessionId) msg.sessionId = sessionId;
	browser.stdio[3].write(JSON.stringify(msg) + '\0');
	return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function waitFor(pred, ms) {
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => { remove(); reject(new Error('timeout waiting for the page')); }, ms);
		const l = (msg) => { if (pred(msg)) { clearTimeout(timer); remove(); resolve(msg); } };
		const remove = () => { const i = listeners.indexOf(l); if (i >= 0) listeners.splice(i, 1); };
		listeners.push(l);
	});
}

async function load(job) {
	const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
	const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
	const consoleErrors = [];
	let status = null;
	const onEvent = (msg) => {
		if (msg.sessionId !== sessionId) return;
		const p = msg.params;
		if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert'))
			consoleErrors.push({ source: 'console', level: 'error', text: p.args.map((a) => a.value ?? a.description).join(' ') });
		else if (msg.method === 'Runtime.exceptionThrown')
			consoleErrors.push({ source: 'exception', level: 'error', text: p.exceptionDetails.text + ' ' + (p.exceptionDetails.exception?.description ?? '') });
		else if (msg.method === 'Log.entryAdded' && p.entry.level === 'error')
			consoleErrors.push({ source: p.entry.source, level: p.entry.level, text: p.entry.text, url: p.entry.url });
		else if (msg.method === 'Network.responseReceived' && p.type === 'Document' && status === null)
			status = p.response.status;
	};
	listeners.push(onEvent);
	await send('Page.enable', {}, sessionId);
	await send('Runtime.enable', {}, sessionId);
	await send('Log.enable', {}, sessionId);
	await send('Network.enable', {}, sessionId);
	if (job.headers) await send('Network.setExtraHTTPHeaders', { headers: job.headers }, sessionId);
	const width = job.mobile ? 390 : 1280;
	await send('Emulation.setDeviceMetricsOverride',
		{ width, height: job.mobile ? 844 : 900, deviceScaleFactor: job.mobile ? 2 : 1, mobile: !!job.mobile }, sessionId);
	const loaded = waitFor((m) => m.sessionId === sessionId && m.method === 'Page.loadEventFired', 60000);
	await send('Page.navigate', { url: job.url }, sessionId);
	await loaded;
	// a form to fill and submit, as a person would (job.fill: {field id: value},
	// job.submit: the form's id); the result is the page the form leads to
	if (job.fill) {
		const next = waitFor((m) => m.sessionId === sessionId && m.method === 'Page.loadEventFired', 60000);
		status = null;
		await send('Runtime.evaluate', {
			expression: '(() => { const v = ' + JSON.stringify(job.fill) + '; for (const k in v) ' +
				'document.getElementById(k).value = v[k]; document.getElementById(' +
				JSON.stringify(job.submit) + ').requestSubmit(); })()',
		}, sessionId);
		await next;
	}
	// late console messages (style or CSP reports) come right after load
	await new Promise((r) => setTimeout(r, 300));
	const { result } = await send('Runtime.evaluate', {
		returnByValue: true,
		expression: 'JSON.stringify({title: document.title, lang: document.documentElement.lang, ' +
			'text: document.body ? document.body.innerText : "", html: document.documentElement.outerHTML, ' +
			'scroll_width: document.documentElement.scrollWidth, viewport_width: window.innerWidth})',
	}, sessionId);
	const shot = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId);
	const file = path.join(outdir, job.name + '.png');
	fs.writeFileSync(file, Buffer.from(shot.data, 'base64'));
	listeners.splice(listeners.indexOf(onEvent), 1);
	await send('Target.closeTarget', { targetId });
	return Object.assign({ name: job.name, status, console: consoleErrors, screenshot: file }, JSON.parse(result.value));
}

(async () => {
	const results = [];
	let failed = null;
	try {
		for (const job of jobs) results.push(await load(job));
	} catch (e) {
		failed = e;
	}
	const exited = new Promise((r) => { if (browser.exitCode !== null) r(); else browser.on('exit', r); });
	send('Browser.close').catch(() => {});
	await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
	browser.kill('SIGKILL');
	await exited;
	try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch (e) { /* left in tmp */ }
	if (failed) {
		process.stderr.write('browser.js: ' + failed.message + '\n' + stderr.slice(-2000) + '\n');
		process.exit(1);
	}
	process.stdout.write(JSON.stringify(results));
	process.exit(0);
})();
