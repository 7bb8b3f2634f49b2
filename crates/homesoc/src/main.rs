fn main() {
    let _ = (engine::placeholder, store::placeholder);
}
