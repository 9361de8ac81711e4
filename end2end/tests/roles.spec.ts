import { execFileSync } from "node:child_process";
import { expect, Page, test } from "@playwright/test";
import { connectPeers, hydrated, login, uniqueName, watchConsole } from "./helpers";

/** Adds a user the way an operator does (`proxbox user add`) and returns the one-time
 *  password it prints. */
function addUser(name: string, role: "admin" | "operator" | "viewer"): string {
  const out = execFileSync(process.env.PROXBOX_E2E_BIN!, ["user", "add", name, "--role", role], {
    env: { ...process.env, PROXBOX_DATA_DIR: process.env.PROXBOX_E2E_DATA_DIR!, PROXBOX_LOG: "warn" },
  }).toString();
  const password = /One-time password[^:]*: (\S+)/.exec(out)?.[1];
  expect(password, out).toBeTruthy();
  return password!;
}

/** Logs in with a one-time password and replaces it, as a new user must. */
async function firstLogin(page: Page, name: string, oneTime: string): Promise<string> {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(oneTime);
  await page.getByRole("button", { name: "Log in" }).click();
  // Wherever the login leads, a one-time password leads to the password page first.
  await expect(page).toHaveURL(/\/account\/password$/);
  await expect(page.getByTestId("one-time-password")).toBeVisible();
  await page.goto("/jobs");
  await expect(page).toHaveURL(/\/account\/password$/);
  const mine = `${name}-own-password`;
  await page.getByLabel("Current password").fill(oneTime);
  await page.getByLabel("New password", { exact: true }).fill(mine);
  await page.getByLabel("New password, again").fill(mine);
  await page.getByTestId("change-password").click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("user-name")).toHaveText(name);
  return mine;
}

test("a new user must change the one-time password before anything else", async ({ page }, testInfo) => {
  const name = uniqueName("newcomer");
  const oneTime = addUser(name, "viewer");
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(oneTime);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/account\/password$/);
  // A wrong current password is refused field by field, and nothing changes.
  await page.getByLabel("Current password").fill("not the one");
  await page.getByLabel("New password", { exact: true }).fill("a password of my own");
  await page.getByLabel("New password, again").fill("a password of my own");
  await page.getByTestId("change-password").click();
  await expect(page.locator('[data-field="current"]')).toContainText("not your current password");
  await page.screenshot({ path: testInfo.outputPath("one-time-password.png"), fullPage: true });
  await page.goto("/");
  await expect(page).toHaveURL(/\/account\/password$/);
  await page.context().clearCookies();
  await firstLogin(page, name, oneTime);
});

test("a viewer sees no sync buttons and no settings, and is refused them", async ({ page: admin, browser }, testInfo) => {
  await login(admin);
  await connectPeers(admin);
  const name = uniqueName("viewer");
  const oneTime = addUser(name, "viewer");
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchConsole(page);
  await firstLogin(page, name, oneTime);
  await hydrated(page);
  await expect(page.getByTestId("user-role")).toHaveText("viewer");
  await expect(page.getByTestId("endpoint-card").first()).toBeVisible();
  await expect(page.getByTestId("sync-actions")).toHaveCount(0);
  await expect(page.getByTestId("card-links").first()).not.toContainText("Settings");
  await page.screenshot({ path: testInfo.outputPath("viewer-dashboard.png"), fullPage: true });
  await page.goto("/endpoints");
  await expect(page.getByRole("link", { name: "Add Proxmox endpoint" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Delete / })).toHaveCount(0);
  await expect(page.locator("nav").getByRole("link", { name: "Settings" })).toHaveCount(0);
  // Settings refused with a page that says why.
  expect((await page.goto("/settings"))?.status()).toBe(403);
  const refused = await page.goto("/endpoints/netbox");
  expect(refused?.status()).toBe(403);
  await expect(page.locator("body")).toContainText("Your role (viewer) cannot change the configuration");
  // A hand-made sync request is refused as well.
  const csrf = (await (await page.request.get("/api/session")).json()).csrf;
  const post = await page.request.post("/sync/full-update", {
    form: { csrf },
    headers: { accept: "application/json" },
    maxRedirects: 0,
  });
  expect(post.status()).toBe(403);
  expect(await post.text()).toContain("operator role");
  expect(errors.filter((e) => !/403/.test(e))).toEqual([]);
  await context.close();
});

test("an operator runs a sync but cannot open settings", async ({ page: admin, browser }) => {
  test.setTimeout(240_000);
  await login(admin);
  await connectPeers(admin);
  const name = uniqueName("operator");
  const oneTime = addUser(name, "operator");
  const context = await browser.newContext();
  const page = await context.newPage();
  await firstLogin(page, name, oneTime);
  await hydrated(page);
  await expect(page.getByTestId("user-role")).toHaveText("operator");
  await expect(page.getByTestId("card-links").first()).not.toContainText("Settings");
  await page.getByTestId("sync-devices").click();
  const overlay = page.getByTestId("sync-overlay");
  await expect(overlay).toBeVisible();
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 180_000 });
  await expect(overlay.locator('tr[data-stage="devices"] .badge')).toHaveText("completed");
  const refused = await page.goto("/endpoints/proxmox/new");
  expect(refused?.status()).toBe(403);
  await expect(page.locator("body")).toContainText("Your role (operator) cannot change the configuration");
  await expect(page.locator("nav").getByRole("link", { name: "Settings" })).toHaveCount(0);
  expect((await page.goto("/settings"))?.status()).toBe(403);
  await context.close();
});

test("an API key is shown once, and a user added in the page logs in with the one-time password", async ({ page, browser }, testInfo) => {
  await login(page);
  await page.goto("/api-keys");
  const name = uniqueName("plugin");
  await page.getByLabel("Name").fill(name);
  await page.getByTestId("create-key-submit").click();
  const key = (await page.getByTestId("shown-once").textContent())!.trim();
  expect(key).toMatch(/^pbx_/);
  await page.screenshot({ path: testInfo.outputPath("api-key-shown-once.png"), fullPage: true });
  await page.getByTestId("secret-back").click();
  await expect(page).toHaveURL(/\/api-keys$/);
  const row = page.locator(`tr[data-key="${name}"]`);
  await expect(row).toContainText("sync");
  expect(await page.content()).not.toContain(key);
  // The key works as the NetBox plugin sends it, with its scope only.
  const version = await page.request.get("/version", { headers: { "x-proxbox-api-key": key } });
  expect(version.status()).toBe(200);

  await page.goto("/users");
  const user = uniqueName("added");
  await page.getByLabel("User name").fill(user);
  await page.getByTestId("add-user").getByRole("combobox").selectOption("operator");
  await page.getByTestId("add-user-submit").click();
  const oneTime = (await page.getByTestId("shown-once").textContent())!.trim();
  await page.getByTestId("secret-back").click();
  await expect(page.locator(`tr[data-user="${user}"]`)).toContainText("one-time password");
  const context = await browser.newContext();
  await firstLogin(await context.newPage(), user, oneTime);
  await context.close();
});
