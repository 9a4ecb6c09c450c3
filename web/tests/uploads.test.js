// Attachments: alice sends a picture; its upload shows its progress, and both sides see its
// preview, fetched through short-lived download URLs (docs/protocol.md "Files").

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { assertAccessible, assertNoErrors, launchBrowser, openUser, screenshot, startServer } from "./harness.js";
import { hidden, messages, register, roomButton, until, visible } from "./ui.js";

let server;
let browser;
let alice;
let bob;

/** A PNG of random pixels (so it does not compress): big enough for the upload to take a while. */
function noisyPng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const rows = [];
  for (let y = 0; y < height; y++) rows.push(Buffer.from([0]), crypto.randomBytes(width * 3));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows), { level: 1 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const preview = (user, name) => messages(user).locator(`img[alt="${name}"]`);
const loadedWidth = (user, name) => preview(user, name).evaluate((img) => img.complete && img.naturalWidth);

describe("attachments", () => {
  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    alice = await openUser(browser, server.url, "alice");
    bob = await openUser(browser, server.url, "bob", { width: 390, height: 780 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("alice uploads a picture with visible progress; both see its preview", async () => {
    await register(alice, "alice", "Alice");
    await register(bob, "bob", "Bob");
    await alice.page.getByLabel("Find people").fill("bob");
    await alice.page.getByRole("button", { name: "Chat with Bob (@bob)" }).click();
    await roomButton(bob, "Alice").click();
    await visible(bob.page.getByRole("heading", { level: 2, name: "Alice" }));

    // A slow uplink, so that the upload takes a few seconds.
    const cdp = await alice.context.newCDPSession(alice.page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 1_000_000,
    });
    const png = noisyPng(800, 800);
    assert.ok(png.length > 1_500_000, `a big enough file (${png.length} bytes)`);
    await alice.page.locator('input[type="file"]').setInputFiles({ name: "sunset.png", mimeType: "image/png", buffer: png });

    const bar = alice.page.getByRole("progressbar", { name: "Uploading sunset.png" });
    await visible(bar);
    const seen = await until("the progress bar to move", async () => {
      const value = Number(await bar.getAttribute("value"));
      return value > 0 && value < 1 && value;
    });
    assert.ok(seen > 0 && seen < 1, `progress part-way (${seen})`);
    await screenshot(alice.page, "upload-progress");
    await assertAccessible(alice.page, "an upload in progress");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });

    for (const user of [alice, bob]) {
      await visible(preview(user, "sunset.png"), 30_000);
      assert.equal(await until(`${user.name}'s preview to load`, () => loadedWidth(user, "sunset.png")), 800);
    }
    assert.equal(await alice.page.getByRole("progressbar").count(), 0, "the upload is done");
    await screenshot(alice.page, "image-preview");
    await screenshot(bob.page, "image-preview-phone");
  });

  it("a file of a type the server refuses says so in words, and the notice can be dismissed", async () => {
    const picker = alice.page.locator('input[type="file"]');
    const accept = await picker.getAttribute("accept");
    assert.ok(accept.includes("image/png") && accept.includes("application/pdf"), `the picker offers the usual types: ${accept}`);
    await picker.setInputFiles({
      name: "report.docx",
      mimeType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      buffer: Buffer.from("PK\u0003\u0004 not really a document"),
    });
    const notice = messages(alice).locator("li.transfer").filter({ hasText: "report.docx" });
    await visible(notice.getByText("Upload of report.docx failed: This kind of file cannot be sent here."));
    const dismiss = notice.getByRole("button", { name: "Dismiss" });
    const box = await dismiss.boundingBox();
    const width = alice.page.viewportSize().width;
    assert.ok(box && box.x >= 0 && box.x + box.width <= width, `Dismiss is on screen: ${JSON.stringify(box)} in ${width}`);
    await screenshot(alice.page, "upload-refused");
    await dismiss.click();
    await hidden(notice);
    // The browser reports the refused request itself on the console; that one is expected.
    alice.errors.splice(0, alice.errors.length, ...alice.errors.filter((e) => !e.includes("status of 415")));
  });

  it("no console errors and no uncaught exceptions", () => {
    assertNoErrors(alice, bob);
  });
});
