package com.example.echo;

/** Loaded from the plugin jar only when the callback's tail first runs. */
final class EchoTail {

    boolean finish() {
        return true;
    }
}
