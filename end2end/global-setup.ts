// scripts/e2e starts the server before Playwright; wait until it answers /health.
export default async function globalSetup() {
  const url = (process.env.BASE_URL ?? "http://127.0.0.1:3000") + "/health";
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`server at ${url} did not come up`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
