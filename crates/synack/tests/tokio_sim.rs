//! The tokio API over the in-memory link: echo with split halves, a tokio-util codec, hyper, and
//! connect failures; drivers both as tokio tasks and on their own threads.

mod support;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use synack::device::{LinkConfig, SimDevice};
use synack::tokio::{TcpListener, TcpStream};
use synack::Driver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

fn drivers(as_tasks: bool) -> (Driver, Driver) {
    let link = LinkConfig::with_delay(Duration::from_micros(200));
    let (a, b) = SimDevice::pair(link.clone(), link, 11);
    let ca = Driver::builder()
        .address("10.0.0.1".parse().unwrap())
        .device(a);
    let cb = Driver::builder()
        .address("10.0.0.2".parse().unwrap())
        .device(b);
    if as_tasks {
        (ca.spawn_tokio().unwrap(), cb.spawn_tokio().unwrap())
    } else {
        (ca.spawn().unwrap(), cb.spawn().unwrap())
    }
}

fn server_addr(port: u16) -> SocketAddr {
    SocketAddr::new("10.0.0.2".parse().unwrap(), port)
}

async fn echo_2mib(client: Driver, server: Driver) {
    let listener = TcpListener::bind(&server, server_addr(7)).await.unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        // Dropping the write half sends FIN.
    });
    let stream = TcpStream::connect(&client, server_addr(7)).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let len = 2 * 1024 * 1024;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let sent = Sha256::digest(&data);
    let writer = tokio::spawn(async move {
        wr.write_all(&data).await.unwrap();
        wr.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    rd.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), len);
    assert_eq!(Sha256::digest(&back), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_with_split_halves_drivers_as_tasks() {
    let (c, s) = drivers(true);
    tokio::time::timeout(Duration::from_secs(60), echo_2mib(c, s))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn echo_on_a_current_thread_runtime_with_driver_threads() {
    let (c, s) = drivers(false);
    tokio::time::timeout(Duration::from_secs(60), echo_2mib(c, s))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn echo_on_a_current_thread_runtime_with_driver_tasks() {
    let (c, s) = drivers(true);
    tokio::time::timeout(Duration::from_secs(60), echo_2mib(c, s))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_codec_frames_over_synack() {
    let (client, server) = drivers(true);
    let listener = TcpListener::bind(&server, server_addr(8)).await.unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, LinesCodec::new());
        while let Some(Ok(line)) = framed.next().await {
            framed.send(line.to_uppercase()).await.unwrap();
        }
    });
    let stream = TcpStream::connect(&client, server_addr(8)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut framed = Framed::new(stream, LinesCodec::new());
    for word in ["syn", "syn-ack", "ack"] {
        framed.send(word).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), framed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, word.to_uppercase());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_serves_http1_over_synack() {
    use http_body_util::Full;
    use hyper::{Request, Response};

    let (client, server) = drivers(true);
    let listener = TcpListener::bind(&server, server_addr(80)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            format!("path={}", req.uri().path()),
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let mut c = TcpStream::connect(&client, server_addr(80)).await.unwrap();
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.ends_with("path=/hello"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refused_and_abandoned() {
    let (client, _server) = drivers(true);
    let e = TcpStream::connect(&client, server_addr(9))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);

    // A connect whose future is dropped is abandoned.
    let link = LinkConfig::default().loss(1.0);
    let (a, _b) = SimDevice::pair(link.clone(), link, 3);
    let lonely = Driver::builder()
        .address("10.0.0.1".parse().unwrap())
        .device(a)
        .spawn_tokio()
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_millis(100),
        TcpStream::connect(&lonely, server_addr(9)),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(lonely.resources().connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linger_zero_resets_and_write_half_drop_sends_fin() {
    let (client, server) = drivers(true);
    let listener = TcpListener::bind(&server, server_addr(10)).await.unwrap();
    let c = TcpStream::connect(&client, server_addr(10)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    let (rd, wr) = c.into_split();
    let c = rd.reunite(wr).unwrap();
    let (rd, wr) = c.into_split();
    drop(wr); // FIN
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty());
    drop(rd);

    let c = TcpStream::connect(&client, server_addr(10)).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    c.set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    let mut b = [0u8; 4];
    let e = s.read(&mut b).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
}

/// `peek` waits for data, copies it without consuming it, and reads 0 at the end of the stream;
/// `read` then returns the same bytes.
#[tokio::test(flavor = "current_thread")]
async fn peek_leaves_the_bytes_for_read() {
    let (c, s) = drivers(true);
    let listener = TcpListener::bind(&s, server_addr(9)).await.unwrap();
    let client = tokio::spawn(async move {
        let mut stream = TcpStream::connect(&c, server_addr(9)).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        c
    });
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut head = [0u8; 3];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&head[..n], &b"GET"[..n]);
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"GET / HTTP/1.1\r\n");
    assert_eq!(stream.peek(&mut head).await.unwrap(), 0, "end of stream");
    client.await.unwrap();
}
