// Following Proxmox live: a guest made and then renamed in the simulator (as Proxmox does,
// nothing clicked in Proxbox) shows in the dashboard's live feed, reaches NetBox through
// the watcher, and appears under its new name on an open VM list by itself.
import { test, expect } from "@playwright/test";
import { connectPeers, fullUpdate, hydrated, login, requireNetbox, uniqueName, watchConsole } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

const SIM = process.env.PVE_SIM_URL!;

test("a guest renamed in Proxmox shows in the live feed and, without a click, on the VM list", async ({ page, context, request }) => {
  test.setTimeout(240_000);
  const errors = watchConsole(page);
  await login(page);
  await connectPeers(page);
  await fullUpdate(page);

  // Made in Proxmox by alice: the watcher (every 5 s, the default) carries it to NetBox.
  const name = uniqueName("live");
  const made = await request.post(`${SIM}/_sim/guests`, { data: { kind: "qemu", name, by: "alice@pve" } });
  expect(made.ok()).toBeTruthy();
  const vmid: number = (await made.json()).vmid;

  // An operator watches the VM list, filtered to that guest, in a tab of its own.
  const list = await context.newPage();
  const listErrors = watchConsole(list);
  await list.goto(`/virtual-machines?q=${vmid}`);
  await hydrated(list);
  const row = list.locator(`[data-testid="guest-row"][data-vmid="${vmid}"]`);
  await expect(row).toContainText(name, { timeout: 60_000 });

  const feed = page.getByTestId("live-feed");
  await expect(feed.getByTestId("live-change").filter({ hasText: `${name} created by alice@pve` })).toHaveAttribute(
    "data-reached",
    "true",
    { timeout: 60_000 },
  );

  // Renamed in Proxmox (a config edit: no task). Nothing is clicked in Proxbox.
  const renamed = `${name}-renamed`;
  const patched = await request.patch(`${SIM}/_sim/guests/qemu/${vmid}`, { data: { name: renamed } });
  expect(patched.ok()).toBeTruthy();
  const line = feed.getByTestId("live-change").filter({ hasText: `${renamed} renamed from ${name}` });
  await expect(line).toBeVisible({ timeout: 60_000 });
  await expect(line).toHaveAttribute("data-reached", "true", { timeout: 60_000 });
  await expect(line).toContainText(/in NetBox \d+\.\d s later/);
  await expect(row).toContainText(renamed, { timeout: 30_000 });
  await expect(row.getByRole("link")).toHaveText(renamed);

  // The endpoint's history keeps both, with the task that made the first.
  await page.goto("/endpoints");
  await hydrated(page);
  await page.getByTestId("proxmox-endpoints").getByRole("link").first().click();
  await page.getByTestId("watch-history-link").click();
  const history = page.getByTestId("watch-history");
  await expect(history).toContainText(`${renamed} renamed from ${name}`);
  await expect(history).toContainText(`qmcreate of ${vmid} by alice@pve, UPID:`);

  // Gone again, so that the other specs find the simulator as they left it; its removal
  // reaches NetBox before the next spec starts.
  const removed = await request.delete(`${SIM}/_sim/guests/qemu/${vmid}?by=alice@pve`);
  expect(removed.ok()).toBeTruthy();
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("live-feed").getByTestId("live-change").filter({ hasText: `${renamed} removed by alice@pve` })).toHaveAttribute(
    "data-reached",
    "true",
    { timeout: 60_000 },
  );
  expect(errors).toEqual([]);
  expect(listErrors).toEqual([]);
});
