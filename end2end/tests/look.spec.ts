// How Proxbox looks: on a phone screen, and in the system's light or dark mode.
import { test, expect, Page } from "@playwright/test";
import { connectPeers, hydrated, login, requireNetbox, startFromButton } from "./helpers";

test.beforeAll(() => {
  requireNetbox();
});

// A phone held upright.
test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

/** Nothing wider than the screen: wide tables scroll inside their own box. */
async function fitsTheScreen(page: Page) {
  // The screen's width, not window.innerWidth: a mobile browser widens its layout
  // viewport to whatever overflows.
  const screen = page.viewportSize()!.width;
  const widest = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(widest, `${page.url()} is ${widest} px wide on a ${screen} px screen`).toBeLessThanOrEqual(screen);
}

test("the dashboard, the progress overlay, a job page and the lists fit a phone screen", async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  await login(page);
  await connectPeers(page);
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("endpoint-card")).toHaveAttribute("data-state", "ready");
  await fitsTheScreen(page);

  const { overlay } = await startFromButton(page, "devices");
  await expect(overlay.getByTestId("live-state")).toHaveAttribute("data-state", "ended", { timeout: 60_000 });
  // Even a job that ran within a second says how long it took.
  await expect(overlay.getByTestId("job-elapsed")).toHaveText(/^\d+s$/);
  await fitsTheScreen(page);
  await page.screenshot({ path: testInfo.outputPath("phone-overlay.png") });

  await overlay.getByRole("link", { name: "Open the job page" }).click();
  await expect(page).toHaveURL(/\/jobs\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId("event-log")).toBeVisible();
  await fitsTheScreen(page);
  await page.screenshot({ path: testInfo.outputPath("phone-job.png"), fullPage: true });

  for (const path of ["/jobs", "/endpoints"]) {
    await page.goto(path);
    await hydrated(page);
    await fitsTheScreen(page);
  }
});

/** The page background's relative luminance, 0 (black) to 1 (white). */
async function backgroundLuminance(page: Page): Promise<number> {
  return page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g)!.map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  });
}

test("the colours follow the system's light or dark setting", async ({ page }) => {
  await login(page);
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto("/");
  await hydrated(page);
  expect(await backgroundLuminance(page)).toBeGreaterThan(0.8);
  await page.emulateMedia({ colorScheme: "dark" });
  expect(await backgroundLuminance(page)).toBeLessThan(0.2);
});
