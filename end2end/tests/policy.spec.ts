// The pages' content security policy in a real browser: every page hydrates under it with
// no violation reported, and a script injected into a page does not run.
import { test, expect } from "@playwright/test";
import { hydrated, login } from "./helpers";

test("pages hydrate under their script policy, and an injected script does not run", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await login(page);
  for (const path of ["/", "/jobs", "/endpoints", "/settings", "/virtual-machines"]) {
    await page.goto(path);
    await hydrated(page);
  }
  expect(violations, violations.join("\n")).toEqual([]);

  const ran = await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.__injected = true;";
    document.body.appendChild(script);
    return (window as unknown as { __injected?: boolean }).__injected === true;
  });
  expect(ran, "an inline script without the page's nonce ran").toBe(false);
  await expect.poll(() => violations.length).toBeGreaterThan(0);
});
