import { test, expect } from "@playwright/test";
import { ADMIN, PASSWORD, hydrated, login, submitLogin, watchConsole } from "./helpers";

test("anonymous visitors land on the login page, which keeps where they wanted to go", async ({ page }) => {
  await page.goto("/endpoints");
  await expect(page).toHaveURL(/\/login\?next=%2Fendpoints$/);
  await expect(page.getByRole("heading", { name: "Log in to Proxbox" })).toBeVisible();
});

test("a wrong password is refused, the right one logs in, logout ends the session", async ({ page }) => {
  const errors = watchConsole(page);
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("User name").fill(ADMIN);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByTestId("form-error")).toHaveText("Wrong username or password.");
  await expect(page).toHaveURL(/\/login/);

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByTestId("user-name")).toHaveText(ADMIN);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/endpoints");
  await expect(page).toHaveURL(/\/login\?next=/);
  expect(errors).toEqual([]);
});

test("login works without JavaScript too", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/login?next=%2Fendpoints");
  await submitLogin(page);
  await expect(page).toHaveURL(/\/endpoints$/);
  await expect(page.getByRole("heading", { name: "Endpoints" })).toBeVisible();
  await context.close();
});

test("an unknown address shows the not-found page", async ({ page }) => {
  await login(page);
  const res = await page.goto("/no-such-page");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});
