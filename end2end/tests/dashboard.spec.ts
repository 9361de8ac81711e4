import { test, expect, Page } from "@playwright/test";
import {
  addProxmoxEndpoint,
  clearSimulatorFaults,
  connectPeers,
  freePortPair,
  hydrated,
  itemsCounted,
  login,
  requireNetbox,
  slowSimulator,
  startFromButton,
  startSim,
  stopSim,
  uniqueName,
  watchConsole,
} from "./helpers";

const SIM = process.env.PVE_SIM_URL!;

test.beforeAll(() => {
  requireNetbox();
});
test.afterEach(async ({ request }) => clearSimulatorFaults(request));

async function openDashboard(page: Page) {
  await page.goto("/");
  await hydrated(page);
}

test("cards are server-rendered skeletons that hydrate with the cluster's real counts", async ({ page }) => {
  await login(page);
  await connectPeers(page);
  const errors = watchConsole(page);

  // What the server sends: a card per endpoint, still to be filled.
  const html = await (await page.request.get("/")).text();
  expect(html).toContain('data-testid="endpoint-card"');
  expect(html).toContain("Reading the cluster…");

  const cluster = await (await fetch(`${SIM}/_sim/cluster`)).json();
  const guests: { running: boolean }[] = await (await fetch(`${SIM}/_sim/guests`)).json();
  await openDashboard(page);
  const card = page.getByTestId("endpoint-card");
  await expect(card).toHaveCount(1);
  await expect(card).toHaveAttribute("data-state", "ready");
  await expect(card.getByTestId("card-version")).toHaveText(cluster.version);
  await expect(card.getByTestId("card-nodes")).toHaveText(String(cluster.nodes.length));
  await expect(card.getByTestId("card-vms")).toHaveText(String(cluster.qemu));
  await expect(card.getByTestId("card-containers")).toHaveText(String(cluster.lxc));
  await expect(card.getByTestId("card-running")).toHaveText(String(guests.filter((g) => g.running).length));
  await expect(page.getByTestId("netbox-card").getByTestId("netbox-state")).toContainText("NetBox");
  expect(errors).toEqual([]);
});

test("a keepalive badge turns red when its Proxmox cluster stops and green when it is back", async ({ page }) => {
  test.setTimeout(120_000);
  const port = await freePortPair();
  let sim = await startSim(port, "badge");
  try {
    await login(page);
    const name = uniqueName("badge");
    await addProxmoxEndpoint(page, name, `http://127.0.0.1:${port}`);
    await openDashboard(page);
    const badge = page.getByTestId("health-badge").filter({ hasText: `Proxmox ${name}` });
    await expect(badge).toHaveAttribute("data-ok", "true");
    await expect(badge).toContainText(/\d+ ms/);
    await expect(page.getByTestId("health-badge").filter({ hasText: "Database" })).toHaveAttribute("data-ok", "true");
    const checked = await page.getByTestId("health-checked").textContent();

    await stopSim(sim);
    await expect(badge).toHaveAttribute("data-ok", "false");
    await expect(badge).toHaveClass(/badge-error/);
    await expect(page.getByTestId("health-problems")).toContainText(name);
    expect(await page.getByTestId("health-checked").textContent()).not.toEqual(checked);

    sim = await startSim(port, "badge");
    await expect(badge).toHaveAttribute("data-ok", "true");
    await expect(badge).toHaveClass(/badge-ok/);
  } finally {
    if (sim.exitCode === null) await stopSim(sim);
  }
});

test("a sync started from the button runs in the overlay, live, and a second tab follows through the WebSocket", async ({ page, context, request }, testInfo) => {
  test.setTimeout(300_000);
  await login(page);
  await connectPeers(page);
  await slowSimulator(request, 300);
  const errors = watchConsole(page);
  await openDashboard(page);
  const other = await context.newPage();
  const otherErrors = watchConsole(other);
  await openDashboard(other);
  await expect(page.getByTestId("news-state")).toHaveAttribute("data-state", "live");
  await expect(other.getByTestId("news-state")).toHaveAttribute("data-state", "live");

  const { overlay, jobId } = await startFromButton(page, "full-update");
  await expect(page).toHaveURL(/\/$/);
  // Intermediate states in the overlay: one stage running, then an earlier one completed
  // with counted items while the job still runs.
  const devices = overlay.locator('tr[data-stage="devices"]');
  await expect(overlay.locator("tr[data-stage] .stage-running")).toHaveCount(1, { timeout: 60_000 });
  await expect(devices.locator(".badge")).toHaveText("completed", { timeout: 60_000 });
  expect(await itemsCounted(devices)).toBeGreaterThan(0);
  expect(Number(await overlay.getByTestId("job-progress").getAttribute("value"))).toBeLessThan(100);
  await expect(overlay.getByTestId("job-elapsed")).toHaveText(/\ds$/);
  await page.screenshot({ path: testInfo.outputPath("dashboard-mid-sync.png"), fullPage: true });

  // The other tab heard of the job on its socket and follows it in its panel, unreloaded.
  const panel = other.getByTestId("job-panel");
  await expect(panel).toHaveAttribute("data-job", jobId);
  await expect(panel.getByTestId("live-state")).toHaveAttribute("data-state", /connecting|live|ended/);
  await other.screenshot({ path: testInfo.outputPath("dashboard-second-tab-mid-sync.png"), fullPage: true });

  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 240_000 });
  await expect(overlay.getByTestId("job-progress")).toHaveAttribute("value", "100");
  // sync_end refreshed both tabs: the job is finished in the other tab's panel and listed
  // first among the recent jobs.
  await expect(panel.getByTestId("job-status")).toHaveText("completed");
  await expect(other.locator(".recent-jobs tbody tr").first()).toContainText(`#${jobId}`);
  await expect(other.getByTestId("news-state")).toHaveAttribute("data-state", "live");
  await overlay.getByTestId("overlay-close").click();
  await expect(overlay).toHaveCount(0);
  await expect(page.getByTestId("job-panel").getByTestId("job-status")).toHaveText("completed");
  await other.close();
  expect(errors).toEqual([]);
  expect(otherErrors).toEqual([]);
});

test("the dashboard hydrates without an error, load after load", async ({ page }) => {
  test.setTimeout(120_000);
  await login(page);
  const errors = watchConsole(page);
  for (let load = 0; load < 15; load++) {
    await openDashboard(page);
    await expect(page.getByTestId("health-badge").first()).toBeVisible();
  }
  expect(errors).toEqual([]);
});

test("without its WebSocket the dashboard says so and refreshes by polling", async ({ page, context }) => {
  test.setTimeout(120_000);
  await login(page);
  await connectPeers(page);
  // The socket is refused for this tab only (a proxy that drops WebSockets, say).
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close());
  await openDashboard(page);
  const news = page.getByTestId("news-state");
  await expect(news).toHaveAttribute("data-state", "polling");
  await expect(news).toBeVisible();
  await expect(news).toContainText("refreshes every 10 s");

  const other = await context.newPage();
  await openDashboard(other);
  const { overlay, jobId } = await startFromButton(other, "devices");
  await expect(page.getByTestId("job-panel")).toHaveAttribute("data-job", jobId, { timeout: 30_000 });
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 60_000 });
  await other.close();
});
