// The admin server and its live status page, the page looked at in a real headless Chromium.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startFakeBackend } from '../helpers/fake-backend.js';
import { connectAndWait, callLoop, meshClient, until } from '../helpers/mesh.js';
import { until as waitFor } from '../helpers/until.js';
import { getOrder } from '../helpers/clients.js';
import { callUnary } from '../../examples/orders.js';
import { LoadGenerator } from '../../examples/load.js';
import { useTestPool } from '../helpers/servers.js';

/** Screenshots of the page, for a person to look at (not committed): under the OS temp dir. */
const ARTIFACTS = join(tmpdir(), 'grpc-meshlite-test-artifacts');

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`      screenshot: ${path}`);
}

describe('admin server and status page (real Chromium)', function () {
  this.timeout(60_000);
  const pool = useTestPool();

  it('shows a person that ServiceA is ejected and takes no traffic during a fault', async () => {
    const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    const { mesh, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'ServiceA', address: a.address },
              { name: 'ServiceB', address: b.address },
            ],
            healthCheck: { probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 }, ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
            client: { retry: { maxAttempts: 3, idempotent: true, backoff: { baseMs: 1, capMs: 1 } } },
          },
        },
      },
    });
    const admin = await mesh.serveAdmin({ port: 0 });
    pool.defer(() => admin.close());
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    const loop = callLoop(client, { concurrency: 2 });
    pool.defer(() => loop.stop());
    a.behaviour.status = grpc.status.UNAVAILABLE; // the fault: every call at A fails
    await until(mesh, (endpoints) => endpoints['ServiceA']!.ejection === 'ejected');

    const browser = await launchChromium(pool);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(admin.url);
    // What a person sees, once the 10 s window holds only calls after the ejection's effect.
    await page.waitForFunction(
      `(() => {
        const row = document.querySelector('tr[data-endpoint="ServiceA"]');
        return row?.querySelector('.state')?.textContent === 'ejected' && row.querySelector('.share')?.textContent === '0 %';
      })()`,
      undefined,
      { timeout: 20_000 },
    );
    const serviceB = page.locator('tr[data-endpoint="ServiceB"]');
    expect(await serviceB.locator('.state').textContent()).to.equal('in-rotation');
    expect(await serviceB.locator('.share').textContent()).to.equal('100 %');
    expect(await page.locator('tr[data-endpoint="ServiceA"] .why').textContent()).to.match(/consecutive failures/);
    await screenshot(page, 'status-page.png');
    expect((await loop.stop()).errors).to.deep.equal([]);
  });

  it('shows an operator who opens the page after a total outage the open breaker and what happened before', async () => {
    const a = await startFakeBackend('ServiceA');
    const { mesh, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [{ name: 'ServiceA', address: a.address }],
            healthCheck: { probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 } },
            client: { retry: { maxAttempts: 1 }, breaker: { volumeThreshold: 3, resetTimeoutMs: 600_000 } },
          },
        },
      },
    });
    const admin = await mesh.serveAdmin({ port: 0 });
    pool.defer(() => admin.close());
    await connectAndWait(mesh, client, ['ServiceA']);
    a.stop(); // the outage: the only backend is gone
    const opened = new Promise((resolve) => mesh.events.onBreaker((e) => e.state === 'open' && resolve(e)));
    for (let i = 0; i < 5; i++) await callUnary(client.GetOrder, client, { id: 'x' }).catch(() => undefined);
    expect(await opened).to.deep.equal({
      service: 'orders',
      breaker: 'orders.v1.OrderService/GetOrder',
      state: 'open',
      previous: 'closed',
    });

    // Opened only now, the page replays the events it missed and shows the breaker.
    const browser = await launchChromium(pool);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(admin.url);
    await page.waitForFunction(
      `document.querySelector('tr[data-breaker="orders.v1.OrderService/GetOrder"] .state')?.textContent === 'open'`,
      undefined,
      { timeout: 20_000 },
    );
    const events = page.locator('#events li');
    await page.waitForFunction(`document.querySelectorAll('#events li').length >= 2`, undefined, { timeout: 20_000 });
    const texts = await events.allTextContents();
    expect(texts.some((t) => t.includes('orders ServiceA disconnected: connection closed'))).to.equal(true);
    expect(texts.some((t) => t.includes('orders circuit breaker orders.v1.OrderService/GetOrder open (was closed)'))).to.equal(true);
    await screenshot(page, 'status-page-breaker-open.png');

    // A stream that reconnects with the last id it saw gets nothing twice.
    // (A stream from a restarted process's page, its ids from another epoch, gets everything.)
    const replayed = async (lastEventId?: string) => {
      const controller = new AbortController();
      const response = await fetch(`${admin.url}events`, {
        signal: controller.signal,
        headers: lastEventId ? { 'last-event-id': lastEventId } : {},
      });
      const reader = response.body!.getReader();
      let text = '';
      const count = () => Number(/the (\d+) recent ones first/.exec(text)?.[1] ?? NaN);
      const complete = () => (text.match(/^data: .*\n\n/gm) ?? []).length === count();
      while (!complete()) text += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      return { count: count(), ids: [...text.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]!) };
    };
    const all = await replayed();
    expect(all.count).to.be.at.least(2);
    expect((await replayed(all.ids.at(-2))).count).to.equal(1);
    expect((await replayed(`0-${all.count}`)).count).to.equal(all.count);
  });

  it('tells an operator who opens the page in a total outage that every call fails, and what led to it', async () => {
    const [a, b] = await Promise.all([startFakeBackend('ServiceA'), startFakeBackend('ServiceB')]);
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    const { mesh, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'ServiceA', address: a.address, weight: 80 },
              { name: 'ServiceB', address: b.address, weight: 20 },
            ],
            healthCheck: { probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 } },
            client: {
              retry: { maxAttempts: 2, idempotent: true, backoff: { baseMs: 1, capMs: 1 } },
              // A breaker that probes every 50 ms: in an outage it flaps between open and
              // half-open, several transitions a second for each method (the demo's does ~4/s).
              breaker: { volumeThreshold: 5, rollingWindowMs: 2000, rollingBuckets: 10, resetTimeoutMs: 50 },
            },
          },
        },
      },
    });
    const admin = await mesh.serveAdmin({ port: 0 });
    pool.defer(() => admin.close());
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    // 100 calls/s, GetOrder and CreateOrder (two breakers), whatever their outcome.
    const load = new LoadGenerator(client, { ratePerSecond: 100, deadlineMs: 1000, keyPrefix: 'status-page-outage' });
    await load.seed(3);
    load.start();
    pool.defer(() => load.stop());
    await waitFor(() => load.records.filter((r) => r.code === grpc.status.OK).length >= 100, { timeoutMs: 20_000 });

    // The outage: both backends gone. Then more breaker transitions than the old ring of 100
    // events held, so that a page replaying only the last 100 would show nothing but flaps.
    let transitions = 0;
    mesh.events.onBreaker(() => transitions++);
    a.stop();
    b.stop();
    await waitFor(() => transitions >= 150, { timeoutMs: 40_000, describe: () => `${transitions} breaker transitions` });

    const browser = await launchChromium(pool);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(admin.url);
    // The callers' line: calls still made (refused at once), next to none succeeding, once the
    // 10 s window holds only calls of the outage.
    await page.waitForFunction(
      `(() => {
        const line = document.querySelector('table.calls[data-service="orders"]');
        const success = line?.querySelector('.success')?.textContent;
        return (success === '0 %' || success === '<1 %') && Number(line.querySelector('.rate')?.textContent) > 0;
      })()`,
      undefined,
      { timeout: 40_000 },
    );
    const line = page.locator('table.calls[data-service="orders"]');
    expect(Number(await line.locator('.failed').textContent())).to.be.greaterThan(0);
    const reasons = await line.locator('.reasons div').allTextContents();
    expect(
      reasons.some((r) => r.endsWith('/s UNAVAILABLE: circuit breaker open')),
      reasons.join('; '),
    ).to.equal(true);
    // Each backend reads as down, and no endpoint shows its last successes as current.
    for (const name of ['ServiceA', 'ServiceB']) {
      const row = page.locator(`tr[data-endpoint="${name}"]`);
      expect(await row.locator('.state').textContent()).to.equal('disconnected');
      expect(await row.locator('.success').textContent()).to.match(/^(stale: no attempt for \d+ s|–)$/);
    }
    // What led to it, although the breakers flapped on: each backend's disconnection, and each
    // flapping breaker as one line with its count.
    const events = page.locator('#events li');
    await page.waitForFunction(`document.querySelectorAll('#events li[data-type="breaker"]').length >= 2`, undefined, { timeout: 20_000 });
    const texts = await events.allTextContents();
    for (const name of ['ServiceA', 'ServiceB']) {
      expect(
        texts.some((t) => t.includes(`orders ${name} disconnected: connection closed`)),
        texts.join('\n'),
      ).to.equal(true);
    }
    const flapping = page.locator('#events li[data-type="breaker"]', { hasText: 'orders.v1.OrderService/GetOrder flapped' });
    expect(Number(await flapping.getAttribute('data-count'))).to.be.greaterThan(50);
    // The chart: a time axis, and the failed calls per second as bars.
    expect(await page.locator('svg.chart rect.failed-bar').count()).to.be.greaterThan(0);
    expect(await page.locator('svg.chart text', { hasText: 'now' }).count()).to.equal(1);
    await screenshot(page, 'status-page-total-outage.png');
  });

  it("shows a canary's routes: each destination's configured and actual share", async () => {
    const [a, b] = [await startFakeBackend('ServiceA'), await startFakeBackend('ServiceB')];
    for (const backend of [a, b]) pool.defer(() => backend.stop());
    const { mesh, client } = meshClient(pool, {
      config: {
        services: {
          orders: {
            endpoints: [
              { name: 'ServiceA', address: a.address, labels: { version: 'v1' } },
              { name: 'ServiceB', address: b.address, labels: { version: 'v2' } },
            ],
            subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
            routes: [
              {
                name: 'canary',
                destinations: [
                  { subset: 'v1', weight: 80 },
                  { subset: 'v2', weight: 20 },
                ],
              },
            ],
            healthCheck: { probeIntervalMs: 0 },
            balancer: { slowStart: { windowMs: 0 } },
          },
        },
      },
    });
    const admin = await mesh.serveAdmin({ port: 0 });
    pool.defer(() => admin.close());
    await connectAndWait(mesh, client, ['ServiceA', 'ServiceB']);
    for (let i = 0; i < 100; i++) await getOrder(client);
    const browser = await launchChromium(pool);
    const page = await browser.newPage();
    await page.goto(admin.url);
    const v2 = page.locator('tr[data-route="canary"][data-subset="v2"]');
    await v2.waitFor({ timeout: 10_000 });
    expect(await v2.locator('td').nth(2).textContent()).to.equal('20 %');
    expect(await v2.locator('.actual').textContent()).to.equal('20 %');
    expect(await page.locator('tr[data-route="canary"][data-subset="v1"] .actual').textContent()).to.equal('80 %');
  });

  it('serves /clusters and /config as JSON, the config without secrets', async () => {
    const backend = await startFakeBackend('ServiceA');
    pool.defer(() => backend.stop());
    const { mesh, client } = meshClient(pool, {
      config: {
        services: { orders: { endpoints: [{ name: 'ServiceA', address: backend.address }], balancer: { slowStart: { windowMs: 0 } } } },
      },
    });
    await connectAndWait(mesh, client, ['ServiceA']);
    const admin = await mesh.serveAdmin({ port: 0 });
    pool.defer(() => admin.close());
    const clusters = (await (await fetch(`${admin.url}clusters`)).json()) as { services: Array<{ service: string }>; windowMs: number };
    expect(clusters.windowMs).to.equal(10_000);
    expect(clusters.services.map((s) => s.service)).to.deep.equal(['orders']);
    const config = (await (await fetch(`${admin.url}config`)).json()) as { source: string };
    expect(config.source).to.equal('in-code config');
    expect((await fetch(`${admin.url}nope`)).status).to.equal(404);
  });
});
