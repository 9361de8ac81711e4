import { APIRequestContext, expect, Page, test } from "@playwright/test";
import { connectPeers, hydrated, login, requireNetbox, watchConsole } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

const NETBOX = process.env.NETBOX_URL!;
const NETBOX_AUTH = { authorization: `Token ${process.env.NETBOX_TOKEN_V1}`, accept: "application/json" };

/** The first NetBox VM of the simulator's cluster (`e2e1`, pve-sim --name e2e). */
async function firstVm(request: APIRequestContext): Promise<{ id: number; name: string; description: string }> {
  const clusters = await (await request.get(`${NETBOX}/api/virtualization/clusters/?name=e2e1`, { headers: NETBOX_AUTH })).json();
  expect(clusters.count, "the simulator's cluster e2e1 is in NetBox").toBe(1);
  const vms = await (
    await request.get(`${NETBOX}/api/virtualization/virtual-machines/?cluster_id=${clusters.results[0].id}&ordering=name&limit=1`, { headers: NETBOX_AUTH })
  ).json();
  return vms.results[0];
}

async function vmDescription(request: APIRequestContext, id: number): Promise<string> {
  const vm = await (await request.get(`${NETBOX}/api/virtualization/virtual-machines/${id}/`, { headers: NETBOX_AUTH })).json();
  return vm.description;
}

/** Runs the virtual machines stage from the dashboard's options form and waits for its end. */
async function syncVirtualMachines(page: Page) {
  await page.goto("/");
  await page.getByTestId("sync-options").locator("summary").click();
  await page.getByTestId("sync-options").getByLabel("virtual-machines", { exact: true }).check();
  await page.getByTestId("sync-with-options").click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 180_000 });
  await expect(page.getByTestId("job-status")).toHaveText("completed");
  await expect(page.locator('tr[data-stage="devices"]')).toHaveCount(1);
  await expect(page.locator('tr[data-stage="virtual-disks"]')).toHaveCount(0);
}

async function setOverwrite(page: Page, field: string, rule: "always" | "on_create") {
  await page.goto("/settings");
  await page.getByTestId("overwrite-rules").getByLabel(field, { exact: true }).selectOption(rule);
  await page.getByTestId("settings-save").click();
  await expect(page.getByTestId("settings-saved")).toBeVisible();
}

test("a schedule created on the settings page runs at its next tick and its job appears", async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  await login(page);
  await connectPeers(page);
  const errors = watchConsole(page);
  await page.goto("/settings");
  await hydrated(page);
  const add = page.getByTestId("add-schedule");
  await add.getByLabel("devices", { exact: true }).check();
  await add.getByLabel("When").fill("* * * * *");
  await add.getByTestId("add-schedule-submit").click();
  await expect(page).toHaveURL(/\/settings#schedules$/);
  const row = page.getByTestId("schedule-row").filter({ hasText: "cron * * * * * (UTC)" });
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId("schedule-next")).toHaveText(/\d{4}-\d\d-\d\d \d\d:\d\d/);
  await expect(page.getByTestId("setting-changes")).toContainText("cron * * * * * (UTC), enabled");
  await page.screenshot({ path: testInfo.outputPath("settings-schedule.png"), fullPage: true });

  // The next whole minute: the maintenance loop starts its job then.
  await expect
    .poll(
      async () => {
        await page.reload();
        return (await row.getByTestId("schedule-last-job").textContent())?.trim();
      },
      { timeout: 120_000, intervals: [2_000] },
    )
    .toMatch(/^#\d+$/);
  const jobId = (await row.getByTestId("schedule-last-job").textContent())!.trim().slice(1);
  await page.goto("/jobs");
  const listed = page.getByTestId("jobs-table").locator("tr", { has: page.getByRole("link", { name: `#${jobId}`, exact: true }) });
  await expect(listed).toContainText("schedule");
  await expect(listed).toContainText("devices");

  // Removed again, so that it does not run beside the other tests.
  await page.goto("/settings");
  await row.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId("schedule-row").filter({ hasText: "cron * * * * * (UTC)" })).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("an overwrite rule changed on the settings page changes what the next sync writes", async ({ page, request }, testInfo) => {
  test.setTimeout(480_000);
  await login(page);
  await connectPeers(page);
  await syncVirtualMachines(page);
  const vm = await firstVm(request);
  expect(vm.description).toMatch(/^Proxmox (VM|container) \d+ of cluster e2e1$/);

  // An operator edits the description in NetBox; by default Proxbox leaves it alone.
  const edited = "edited by hand in NetBox";
  const patch = await request.patch(`${NETBOX}/api/virtualization/virtual-machines/${vm.id}/`, { headers: NETBOX_AUTH, data: { description: edited } });
  expect(patch.ok()).toBeTruthy();
  await syncVirtualMachines(page);
  expect(await vmDescription(request, vm.id)).toBe(edited);

  // With the rule at `always`, the next sync writes Proxmox's description back.
  await setOverwrite(page, "description", "always");
  await expect(page.getByTestId("setting-changes").locator('tr[data-change="overwrite"]').first()).toContainText("description=always");
  await page.screenshot({ path: testInfo.outputPath("settings-overwrite.png"), fullPage: true });
  await syncVirtualMachines(page);
  expect(await vmDescription(request, vm.id)).toBe(vm.description);
  await setOverwrite(page, "description", "on_create");
});

test("a setting fixed by an environment variable is shown locked", async ({ page }) => {
  await login(page);
  await page.goto("/settings");
  // scripts/e2e starts the server with PROXBOX_SSE_KEEPALIVE_SECS set.
  const field = page.locator('[data-setting="keepalive_secs"]');
  await expect(field.getByTestId("locked-keepalive_secs")).toHaveText("set by the environment (PROXBOX_SSE_KEEPALIVE_SECS)");
  await expect(field.getByRole("spinbutton")).toBeDisabled();
  await expect(page.locator('[data-setting="job_timeout_secs"]').getByRole("spinbutton")).toBeEnabled();
});
