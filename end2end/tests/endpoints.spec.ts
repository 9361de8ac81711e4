import { test, expect } from "@playwright/test";
import { hydrated, login, submitLogin, uniqueName, watchConsole } from "./helpers";

const SECRET = "5f1c9e2a-e2e0-4c0f-9a77-00000000beef";

test("the endpoint form reacts once hydrated: the login kind switches the credential fields", async ({ page }) => {
  const errors = watchConsole(page);
  await login(page);
  await page.goto("/endpoints/proxmox/new");
  await hydrated(page);
  const token = page.getByTestId("token-fields");
  const password = page.getByTestId("password-fields");
  await expect(token).toBeVisible();
  await expect(password).toBeHidden();
  await page.getByLabel("Log in with").selectOption("password");
  await expect(token).toBeHidden();
  await expect(password).toBeVisible();
  await page.getByLabel("Log in with").selectOption("token");
  await expect(token).toBeVisible();
  expect(errors).toEqual([]);
});

test("bad input shows a message per field and saves nothing", async ({ page }) => {
  const errors = watchConsole(page);
  const name = uniqueName("bad");
  await login(page);
  await page.goto("/endpoints/proxmox/new");
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("URL").fill("https://pve1.example.com:99999");
  await page.getByLabel("Token ID").fill("root-at-pam");
  await page.getByLabel("Token secret").fill(SECRET);
  await page.getByLabel("Request timeout (seconds)").fill("0");
  await page.getByRole("button", { name: "Save" }).click();

  await expect(page.locator('[data-field="url"]')).toContainText("1 to 65535");
  await expect(page.locator('[data-field="token_id"]')).toContainText("user@realm!tokenname");
  await expect(page.locator('[data-field="timeout_secs"]')).toContainText("1 to 3600");
  await expect(page.getByTestId("form-error")).toContainText("nothing was saved");
  // The operator's input is still there to correct.
  await expect(page.getByLabel("Name")).toHaveValue(name);

  await page.goto("/endpoints");
  await expect(page.getByRole("heading", { name: "Endpoints" })).toBeVisible();
  await expect(page.getByText(name)).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("without JavaScript, bad input comes back with its messages and saves nothing", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const name = uniqueName("nojs");
  await page.goto("/login?next=%2Fendpoints%2Fproxmox%2Fnew");
  await submitLogin(page);
  await expect(page).toHaveURL(/\/endpoints\/proxmox\/new$/);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("URL").fill("https://pve1.example.com:99999");
  await page.getByLabel("Token ID").fill("root@pam!proxbox");
  await page.getByLabel("Token secret").fill(SECRET);
  await page.getByRole("button", { name: "Save" }).click();

  // The form posts to its own page, which comes back with the messages.
  await expect(page).toHaveURL(/\/endpoints\/proxmox\/new$/);
  await expect(page.locator('[data-field="url"]')).toContainText("1 to 65535");
  await expect(page.getByTestId("form-error")).toContainText("nothing was saved");
  await page.goto("/endpoints");
  await expect(page.getByText(name)).toHaveCount(0);
  await context.close();
});

test("a good endpoint is saved and listed, and its secret never reaches the browser", async ({ page, request }) => {
  const errors = watchConsole(page);
  const name = uniqueName("lab");
  await login(page);
  await page.goto("/endpoints/proxmox/new");
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("URL").fill("https://pve1.example.com:8006/api2/json");
  await page.getByLabel("Token ID").fill("root@pam!proxbox");
  await page.getByLabel("Token secret").fill(SECRET);
  await page.getByRole("button", { name: "Save" }).click();

  await expect(page).toHaveURL(/\/endpoints$/);
  const row = page.getByRole("row", { name: new RegExp(name) });
  await expect(row).toContainText("https://pve1.example.com:8006");
  await expect(row).toContainText("token root@pam!proxbox");
  expect(await page.content()).not.toContain(SECRET);

  // The edit form and the raw server-rendered HTML carry no secret either.
  await row.getByRole("link", { name: "Edit" }).click();
  await hydrated(page);
  await expect(page.getByLabel("Token secret")).toHaveValue("");
  await expect(page.getByText("Stored (encrypted). Leave blank to keep it — unless the URL, the login or the TLS settings change.").first()).toBeVisible();
  const editUrl = page.url();
  const cookies = await page.context().cookies();
  const cookieHeader = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  for (const url of [editUrl, "/endpoints", "/api/endpoints"]) {
    const res = await request.get(url, { headers: { cookie: cookieHeader } });
    expect(res.status(), url).toBe(200);
    expect(await res.text(), url).not.toContain(SECRET);
  }

  // Deleting removes it from the list.
  await page.goto("/endpoints");
  await hydrated(page);
  await page.getByRole("button", { name: `Delete ${name}` }).click();
  await expect(page.getByText(name)).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("test connection reaches the simulated cluster and names a wrong secret", async ({ page }) => {
  const errors = watchConsole(page);
  const url = process.env.PVE_SIM_URL!;
  await login(page);
  for (const [name, secret] of [[uniqueName("sim"), process.env.PVE_SIM_TOKEN_SECRET!], [uniqueName("simbad"), "wrong-secret"]]) {
    await page.goto("/endpoints/proxmox/new");
    await hydrated(page);
    await page.getByLabel("Name").fill(name);
    await page.getByLabel("URL").fill(url);
    await page.getByLabel("Token ID").fill(process.env.PVE_SIM_TOKEN_ID!);
    await page.getByLabel("Token secret").fill(secret);
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page).toHaveURL(/\/endpoints$/);
    await hydrated(page);
    const row = page.getByRole("row", { name: new RegExp(name) });
    await row.getByRole("button", { name: `Test ${name}` }).click();
    const result = row.locator(".test-result");
    if (secret === "wrong-secret") {
      await expect(result).toContainText("authentication");
      await expect(result).toContainText("token");
    } else {
      await expect(result).toHaveText("Proxmox VE 8.3.2, cluster e2e1, 3 nodes");
    }
  }
  expect(errors).toEqual([]);
});
