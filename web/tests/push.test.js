// Notifications: the switch subscribes this browser with the server's VAPID key, the server
// pushes a new message to it while its user has no socket open, and the app's service worker
// shows it. Chromium here has no push service of its own, so the page's PushManager hands out
// a subscription whose endpoint is the test's receiver (push-receiver.js), which checks VAPID
// and decrypts the payload exactly as a push service and a browser would.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertNoErrors, launchBrowser, openUser, screenshot, startServer } from "./harness.js";
import { startReceiver, subscriptionKeys } from "./push-receiver.js";
import { register, roomButton, say, until, visible } from "./ui.js";

let server;
let browser;
let receiver;
let alice;
let bob;
let cdp; // a DevTools session on a spare page of bob's: it can deliver pushes to his worker
let registrationId;
const keys = subscriptionKeys();

const toggle = (user) => user.page.getByRole("switch", { name: /Notifications/ });

describe("notifications", () => {
  before(async () => {
    server = await startServer({ CHAT_PUSH_ALLOW_HTTP_LOOPBACK: "true" });
    receiver = await startReceiver(keys);
    browser = await launchBrowser();
    alice = await openUser(browser, server.url, "alice");
    bob = await openUser(browser, server.url, "bob");
    await bob.context.grantPermissions(["notifications"], { origin: server.url });
    await bob.context.addInitScript(
      ({ endpoint, p256dh, auth }) => {
        const subscription = {
          endpoint,
          expirationTime: null,
          toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
          unsubscribe: async () => {
            localStorage.removeItem("test.subscribed");
            return true;
          },
        };
        PushManager.prototype.subscribe = async function (options) {
          const key = new Uint8Array(options.applicationServerKey);
          localStorage.setItem("test.subscribed", btoa(String.fromCharCode(...key)));
          return subscription;
        };
        PushManager.prototype.getSubscription = async function () {
          return localStorage.getItem("test.subscribed") ? subscription : null;
        };
      },
      { endpoint: receiver.endpoint, p256dh: keys.p256dh, auth: keys.authB64 },
    );
    const spare = await bob.context.newPage();
    cdp = await bob.context.newCDPSession(spare);
    cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
      const mine = registrations.find((r) => !r.isDeleted && r.scopeURL.startsWith(server.url));
      if (mine) registrationId = mine.registrationId;
    });
    await cdp.send("ServiceWorker.enable");
  });

  after(async () => {
    await browser?.close();
    await receiver?.close();
    await server?.stop();
  });

  it("bob turns notifications on: the browser subscribes with the server's VAPID key", async () => {
    await register(alice, "alice", "Alice");
    await register(bob, "bob", "Bob");
    await alice.page.getByLabel("Find people").fill("bob");
    await alice.page.getByRole("button", { name: "Chat with Bob (@bob)" }).click();
    await visible(roomButton(bob, "Alice"));

    await visible(toggle(bob));
    assert.equal(await toggle(bob).getAttribute("aria-checked"), "false");
    await toggle(bob).click();
    await until("the switch to be on", async () => (await toggle(bob).getAttribute("aria-checked")) === "true");
    await screenshot(bob.page, "notifications-on");

    const { public_key } = await fetch(`${server.url}/api/push/vapid-public-key`).then((r) => r.json());
    const used = await bob.page.evaluate(() => localStorage.getItem("test.subscribed"));
    assert.equal(Buffer.from(used, "base64").toString("base64url"), public_key, "subscribed with the server's key");
    await until("bob's service worker to be registered", () => registrationId);
  });

  it("a message to bob while he has no tab open is pushed, and his service worker shows it", async () => {
    await bob.page.close();
    await say(alice, "Dinner at eight?");
    const push = await until("a push at the receiver", () => receiver.pushes[0] ?? (receiver.errors[0] && Promise.reject(new Error(receiver.errors[0]))));
    assert.deepEqual(receiver.errors, []);
    const { payload, headers, vapidKey } = push;
    assert.equal(payload.type, "message");
    assert.equal(payload.sender_name, "Alice");
    assert.equal(payload.preview, "Dinner at eight?");
    assert.equal(payload.seq, 1);
    assert.ok(Number(headers.ttl) > 0, "a TTL is set");
    assert.ok(headers.topic, "a Topic is set");
    const { public_key } = await fetch(`${server.url}/api/push/vapid-public-key`).then((r) => r.json());
    assert.equal(vapidKey, public_key, "signed with the server's VAPID key");

    // What the browser's push service would hand to the worker.
    await cdp.send("ServiceWorker.deliverPushMessage", {
      origin: server.url,
      registrationId,
      data: JSON.stringify(payload),
    });
    bob.page = await bob.context.newPage();
    await bob.page.goto("/");
    const shown = await until("the notification", async () => {
      const list = await bob.page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, room: n.data?.room_id }));
      });
      return list.length > 0 && list;
    });
    assert.deepEqual(shown, [{ title: "Alice", body: "Dinner at eight?", room: payload.room_id }]);
  });

  it("bob turns notifications off: the subscription is removed from the server", async () => {
    await visible(toggle(bob));
    await until("the switch to show on", async () => (await toggle(bob).getAttribute("aria-checked")) === "true");
    await toggle(bob).click();
    await until("the switch to be off", async () => (await toggle(bob).getAttribute("aria-checked")) === "false");
    await bob.page.close();
    const before = receiver.pushes.length;
    await say(alice, "Still on for dinner?");
    // The sender has nobody to push to; a push would arrive within this pause, as the one above did.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(receiver.pushes.length, before, "no push after unsubscribing");
  });

  it("no console errors and no uncaught exceptions", () => {
    assertNoErrors(alice, bob);
  });
});
