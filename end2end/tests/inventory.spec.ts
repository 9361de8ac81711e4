// The Proxmox inventory in the browser, after a full update of the simulator: the VM panel
// with the simulator's backups, snapshots and tasks, "Sync this guest" live in the
// progress overlay, the backup coverage report, storage usage bars, all on a phone too.
import { test, expect, Page, APIRequestContext } from "@playwright/test";
import { connectPeers, fullUpdate, hydrated, login, requireNetbox, watchConsole } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

type History = {
  now: number;
  backups: { vmid: number; kind: string }[];
  snapshots: { vmid: number; kind: string; name: string }[];
  tasks: { id: string; starttime: number }[];
};

async function simHistory(request: APIRequestContext): Promise<History> {
  const answer = await request.get(`${process.env.PVE_SIM_URL}/_sim/history`);
  expect(answer.ok()).toBeTruthy();
  return answer.json();
}

/** What the simulator holds of one guest, as the panel should count it (tasks inside the
 *  30-day retention). */
function countsOf(history: History, vmid: number, kind: string) {
  const since = Math.floor(Date.now() / 1000) - 30 * 86_400;
  return {
    backups: history.backups.filter((b) => b.vmid === vmid && b.kind === kind).length,
    snapshots: history.snapshots.filter((s) => s.vmid === vmid && s.kind === kind).length,
    tasks: history.tasks.filter((t) => t.id === String(vmid) && t.starttime >= since).length,
  };
}

/** Nothing wider than the screen: wide tables scroll inside their own box. */
async function fitsTheScreen(page: Page) {
  const screen = page.viewportSize()!.width;
  const widest = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(widest, `${page.url()} is ${widest} px wide on a ${screen} px screen`).toBeLessThanOrEqual(screen);
}

let panelPath = "";

test("the VM panel shows the guest's backups, snapshots and tasks, and syncs the guest live", async ({ page, request }, testInfo) => {
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  await login(page);
  await connectPeers(page);
  await fullUpdate(page);

  // A guest with backups and snapshots (vmid 100 names a VM and a container: left out).
  const history = await simHistory(request);
  const guest = history.snapshots
    .map((s) => ({ vmid: s.vmid, kind: s.kind }))
    .find((g) => g.vmid !== 100 && countsOf(history, g.vmid, g.kind).backups > 0)!;
  expect(guest, "the simulator has a guest with backups and snapshots").toBeTruthy();
  const want = countsOf(history, guest.vmid, guest.kind);

  await page.goto("/virtual-machines");
  await expect(page.getByTestId("guest-count")).toContainText(" guests");
  const row = page.locator(`[data-testid="guest-row"][data-vmid="${guest.vmid}"]`);
  await expect(row).toHaveCount(1);
  await row.getByRole("link").click();
  await expect(page).toHaveURL(/\/virtual-machines\/\d+$/);
  panelPath = new URL(page.url()).pathname;
  await hydrated(page);
  await expect(page.getByTestId("card-vmid")).toHaveText(String(guest.vmid));
  await expect(page.getByTestId("tab-backups").getByTestId("tab-count")).toHaveText(String(want.backups));
  await expect(page.getByTestId("tab-snapshots").getByTestId("tab-count")).toHaveText(String(want.snapshots));
  await expect(page.getByTestId("tab-tasks").getByTestId("tab-count")).toHaveText(String(want.tasks));
  await expect(page.getByTestId("backup-row")).toHaveCount(want.backups);
  await page.screenshot({ path: testInfo.outputPath("vm-panel.png"), fullPage: true });

  await page.getByTestId("tab-snapshots").click();
  await expect(page.getByTestId("snapshot-row")).toHaveCount(want.snapshots);
  await page.getByTestId("tab-tasks").click();
  await expect(page.getByTestId("task-row")).toHaveCount(want.tasks);

  // "Sync this guest": the overlay follows the guest's job live to its end.
  await hydrated(page);
  await page.getByTestId("sync-guest").click();
  const overlay = page.getByTestId("sync-overlay");
  await expect(overlay).toBeVisible();
  await expect(overlay.getByRole("heading", { level: 2 })).toContainText(`guest ${guest.vmid}`);
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 60_000 });
  await expect(overlay.getByTestId("job-message")).toContainText("completed");
  await expect(overlay.locator('[data-stage="storage"]')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath("vm-panel-sync.png") });
  await overlay.getByTestId("overlay-close").click();
  await page.getByTestId("reload-page").click();
  await expect(page.getByTestId("tab-backups").getByTestId("tab-count")).toHaveText(String(want.backups));
  expect(errors).toEqual([]);
});

test("the coverage report lists the guest no routine backs up; storage shows usage bars", async ({ page }, testInfo) => {
  await login(page);
  await page.goto("/backups");
  const noRoutine = page.getByTestId("no-routine");
  await expect(noRoutine.locator('[data-testid="uncovered-guest"][data-vmid="103"]')).toContainText("odd-config");
  await expect(page.getByTestId("routine-row").first()).toBeVisible();
  // The CSV download, with the page's own session.
  const csv = await page.request.get((await page.getByTestId("coverage-csv").getAttribute("href"))!);
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toMatch(/^no-routine,[^\n]*,103,odd-config,/m);
  await page.screenshot({ path: testInfo.outputPath("backups.png"), fullPage: true });

  await page.goto("/storage");
  const bars = page.getByTestId("usage-bar");
  await expect(bars.first()).toBeVisible();
  expect(await bars.count()).toBeGreaterThan(0);
  const widths = await page.locator(".usage-fill").evaluateAll((fills) => fills.map((f) => (f as HTMLElement).style.width));
  expect(widths.every((w) => /^\d+(\.\d+)?%$/.test(w))).toBeTruthy();
  await page.screenshot({ path: testInfo.outputPath("storage.png"), fullPage: true });
});

test("the endpoint page lists the nodes; a node page syncs that node live", async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await login(page);
  await page.goto("/endpoints");
  await page.getByTestId("proxmox-endpoints").getByRole("link").first().click();
  await expect(page).toHaveURL(/\/endpoints\/proxmox\/\d+$/);
  await expect(page.getByTestId("quorum")).toContainText("quorate");
  const rows = page.getByTestId("node-row");
  await expect(rows).toHaveCount(3);
  await page.screenshot({ path: testInfo.outputPath("endpoint.png"), fullPage: true });
  await rows.first().getByRole("link").click();
  await expect(page).toHaveURL(/\/nodes\/[^/]+$/);
  await hydrated(page);
  await expect(page.getByTestId("interface-row").first()).toBeVisible();
  await expect(page.getByTestId("node-guest").first()).toBeVisible();
  await page.getByTestId("sync-node").click();
  const overlay = page.getByTestId("sync-overlay");
  await expect(overlay.getByRole("heading", { level: 2 })).toContainText("node ");
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 60_000 });
  await expect(overlay.getByTestId("job-message")).toContainText("completed");
  await expect(overlay.locator('[data-stage="virtual-machines"]')).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath("node-sync.png") });
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test("the inventory pages fit a phone screen", async ({ page }, testInfo) => {
    expect(panelPath, "the first test found a guest").not.toEqual("");
    await login(page);
    for (const [path, shot] of [
      ["/virtual-machines", "phone-guests.png"],
      [panelPath, "phone-vm-panel.png"],
      ["/backups", "phone-backups.png"],
      ["/storage", "phone-storage.png"],
      ["/endpoints", "phone-endpoints.png"],
    ]) {
      await page.goto(path);
      await hydrated(page);
      await fitsTheScreen(page);
      await page.screenshot({ path: testInfo.outputPath(shot), fullPage: true });
    }
  });
});
