import http from "node:http";
import net from "node:net";
import { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";
import { hydrated, login, watchConsole } from "./helpers";

const BASE = process.env.BASE_URL ?? "http://127.0.0.1:3000";

/** A reverse proxy that holds every response back until it has all of it (as nginx does
 *  with `proxy_buffering on` when it ignores `X-Accel-Buffering`), and passes WebSocket
 *  upgrades through. */
async function bufferingProxy(target: URL): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          const headers = { ...answer.headers, "content-length": String(body.length) };
          delete headers["transfer-encoding"];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(body);
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req, socket, head) => {
    const upstream = net.connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join("\r\n") + "\r\n\r\n");
      upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

test("the streams check sees events arrive one by one directly, and held back through a buffering proxy", async ({ page }) => {
  test.setTimeout(120_000);
  await login(page);
  const errors = watchConsole(page);
  await page.goto("/streams/check");
  await hydrated(page);
  const stream = page.getByTestId("check-stream");
  const socket = page.getByTestId("check-socket");
  await expect(stream).toHaveAttribute("data-verdict", "unbuffered", { timeout: 20_000 });
  await expect(stream).toContainText("one by one");
  await expect(socket).toHaveAttribute("data-verdict", "ok");

  // The same browser session (cookies are per host, not per port) through the proxy.
  const proxy = await bufferingProxy(new URL(BASE));
  try {
    await page.goto(`${proxy.url}/streams/check`);
    await hydrated(page);
    await expect(stream).toHaveAttribute("data-verdict", "buffered", { timeout: 20_000 });
    await expect(stream).toContainText("proxy_buffering off;");
    await expect(socket).toHaveAttribute("data-verdict", "ok");
  } finally {
    proxy.close();
  }
  expect(errors).toEqual([]);
});
