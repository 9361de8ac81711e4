import { APIRequestContext, expect, Locator, Page } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import { createServer } from "node:net";

export const ADMIN = process.env.PROXBOX_E2E_USER ?? "admin";
export const PASSWORD = process.env.PROXBOX_E2E_PASSWORD ?? "e2e-admin-password";

/** For the specs that sync into the real NetBox: a missing NetBox fails them, saying what to
 *  run, instead of skipping them (a skipped check is one that passes without looking). */
export function requireNetbox(): string {
  const url = process.env.NETBOX_URL;
  if (!url) {
    throw new Error(
      "NETBOX_URL is not set: this spec syncs into the real NetBox. Run scripts/netbox-up " +
        "(make test does), which writes ~/.cache/proxbox/netbox.env for scripts/e2e to read.",
    );
  }
  return url;
}

/** Collects browser-side errors (a failed hydration shows up here). Answers with a 4xx
 *  status that a test provokes on purpose (422 for bad input, 401 for a wrong password)
 *  are logged by Chromium too; they are expected and left out. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    const expected4xx = /Failed to load resource: the server responded with a status of 4\d\d/.test(m.text());
    if (m.type() === "error" && !expected4xx) errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

/** Waits until the WASM bundle has hydrated the page (the app marks <body>). */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

export async function login(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await submitLogin(page);
  await expect(page.getByTestId("user-name")).toHaveText(ADMIN);
}

/** Fills the login form on the current page with the admin's credentials and sends it
 *  (hydrated or not). */
export async function submitLogin(page: Page) {
  await page.getByLabel("User name").fill(ADMIN);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** A name no other test (or earlier run on the same database) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** Connects the real NetBox and the simulated cluster as the only Proxmox endpoint (a full
 *  update syncs every enabled endpoint, and other tests leave theirs, some on purpose broken). */
export async function connectPeers(page: Page) {
  await page.goto("/endpoints");
  await hydrated(page);
  const deletes = page.getByTestId("proxmox-endpoints").getByRole("button", { name: /^Delete / });
  while ((await deletes.count()) > 0) {
    const before = await deletes.count();
    await deletes.first().click();
    await expect(deletes).toHaveCount(before - 1);
  }
  await page.goto("/endpoints/netbox");
  await hydrated(page);
  await page.getByLabel("URL").fill(process.env.NETBOX_URL!);
  await page.getByLabel("API token").fill(process.env.NETBOX_TOKEN!);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(/\/endpoints$/);
  await addProxmoxEndpoint(page, uniqueName("sync"), process.env.PVE_SIM_URL!);
}

/** Adds a Proxmox endpoint with the simulator's token through the form. */
export async function addProxmoxEndpoint(page: Page, name: string, url: string) {
  await page.goto("/endpoints/proxmox/new");
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("URL").fill(url);
  await page.getByLabel("Token ID").fill(process.env.PVE_SIM_TOKEN_ID!);
  await page.getByLabel("Token secret").fill(process.env.PVE_SIM_TOKEN_SECRET!);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(/\/endpoints$/);
}

/** Items a stage row has counted so far (created + updated + deleted + skipped + failed). */
export async function itemsCounted(row: Locator): Promise<number> {
  const cells = await row.locator("td").allTextContents();
  return cells.slice(2).reduce((sum, cell) => sum + Number(cell), 0);
}

/** Clicks a dashboard sync button (the page must be the hydrated dashboard): the progress
 *  overlay opens in place. Answers with the overlay and its job's id. */
export async function startFromButton(page: Page, stage: string): Promise<{ overlay: Locator; jobId: string }> {
  // The cards grow when their cluster's answer arrives and push the buttons down: a click
  // aimed while they grow can land beside its button.
  await expect(page.locator('[data-testid="endpoint-card"][data-state="loading"]')).toHaveCount(0);
  await page.getByTestId(`sync-${stage}`).click();
  const overlay = page.getByTestId("sync-overlay");
  await expect(overlay).toBeVisible();
  const href = await overlay.getByRole("link", { name: "Open the job page" }).getAttribute("href");
  const jobId = href!.split("/").pop()!;
  expect(jobId).toMatch(/^\d+$/);
  return { overlay, jobId };
}

/** Runs a full update from the dashboard's button and waits until it completed. */
export async function fullUpdate(page: Page) {
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("endpoint-card")).toHaveAttribute("data-state", "ready");
  const { overlay } = await startFromButton(page, "full-update");
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 120_000 });
  await expect(overlay.getByTestId("job-message")).toContainText("completed");
}

/** Makes the simulator answer every node-level call after `ms` (a slow cluster), so that a
 *  test sees a sync's intermediate states however fast the build under test runs. */
export async function slowSimulator(request: APIRequestContext, ms: number) {
  const fault = await request.post(`${process.env.PVE_SIM_URL}/_sim/faults`, { data: { path: "/nodes", kind: "latency", ms } });
  expect(fault.ok()).toBeTruthy();
}

export async function clearSimulatorFaults(request: APIRequestContext) {
  expect((await request.delete(`${process.env.PVE_SIM_URL}/_sim/faults`)).ok()).toBeTruthy();
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port p with p + 1 free as well (the simulator serves HTTP on p, HTTPS on p + 1). */
export async function freePortPair(): Promise<number> {
  for (let port = 21000 + Math.floor(Math.random() * 8000); ; port += 2) {
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
}

/** A simulated cluster of the test's own (named `name` + 1), which it may stop or restrict. */
export async function startSim(port: number, name: string): Promise<ChildProcess> {
  const sim = spawn(process.env.PVE_SIM_BIN!, ["--port", String(port), "--nodes", "2", "--guests", "6", "--name", name], {
    stdio: "ignore",
  });
  await expect
    .poll(async () => fetch(`http://127.0.0.1:${port}/_sim/cluster`).then((r) => r.ok, () => false), { timeout: 30_000 })
    .toBe(true);
  return sim;
}

export async function stopSim(sim: ChildProcess) {
  const exited = new Promise((resolve) => sim.once("exit", resolve));
  sim.kill("SIGTERM");
  await exited;
}
