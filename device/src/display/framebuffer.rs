//! An in-memory panel: the PNG backend for headless boxes, the tests' golden images and the
//! `render` command all draw into this and save it.

use std::convert::Infallible;
use std::path::Path;

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use image::RgbImage;

/// A `width × height` grid of `C` that embedded-graphics can draw on.
#[derive(Debug, Clone, PartialEq)]
pub struct Framebuffer<C> {
    size: Size,
    pixels: Vec<C>,
}

impl<C: PixelColor> Framebuffer<C> {
    /// A buffer of `size` filled with `background`.
    pub fn new(size: Size, background: C) -> Self {
        Framebuffer {
            size,
            pixels: vec![background; (size.width * size.height) as usize],
        }
    }

    /// The colour at `p`, `None` outside the buffer.
    pub fn pixel(&self, p: Point) -> Option<C> {
        self.index(p).map(|i| self.pixels[i])
    }

    /// Every pixel, row by row from the top left: the order panels take a full-screen write.
    pub fn pixels(&self) -> impl Iterator<Item = C> + '_ {
        self.pixels.iter().copied()
    }

    fn index(&self, p: Point) -> Option<usize> {
        let (x, y) = (u32::try_from(p.x).ok()?, u32::try_from(p.y).ok()?);
        (x < self.size.width && y < self.size.height).then(|| (y * self.size.width + x) as usize)
    }
}

impl<C: PixelColor> Framebuffer<C>
where
    Rgb888: From<C>,
{
    /// The picture as 8-bit RGB (a monochrome panel's lit pixels become white).
    pub fn to_rgb_image(&self) -> RgbImage {
        RgbImage::from_fn(self.size.width, self.size.height, |x, y| {
            let c = Rgb888::from(self.pixels[(y * self.size.width + x) as usize]);
            image::Rgb([c.r(), c.g(), c.b()])
        })
    }

    /// Writes the picture as a PNG file.
    pub fn save_png(&self, path: &Path) -> image::ImageResult<()> {
        self.to_rgb_image().save(path)
    }
}

impl<C: PixelColor> OriginDimensions for Framebuffer<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for Framebuffer<C> {
    type Color = C;
    type Error = Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<C>>,
    {
        for Pixel(p, c) in pixels {
            if let Some(i) = self.index(p) {
                self.pixels[i] = c;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::pixelcolor::BinaryColor;

    #[test]
    fn draws_inside_and_ignores_outside() {
        let mut fb = Framebuffer::new(Size::new(4, 3), BinaryColor::Off);
        let pixels = [
            Pixel(Point::new(1, 2), BinaryColor::On),
            Pixel(Point::new(4, 0), BinaryColor::On),
            Pixel(Point::new(-1, 0), BinaryColor::On),
        ];
        fb.draw_iter(pixels).expect("infallible");
        assert_eq!(fb.pixel(Point::new(1, 2)), Some(BinaryColor::On));
        assert_eq!(fb.pixel(Point::new(0, 0)), Some(BinaryColor::Off));
        assert_eq!(fb.pixel(Point::new(4, 0)), None);
        let img = fb.to_rgb_image();
        assert_eq!(img.get_pixel(1, 2).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
    }
}
